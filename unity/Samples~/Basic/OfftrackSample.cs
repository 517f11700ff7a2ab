using Offtrack;
using Offtrack.Unity;
using UnityEngine;

namespace Offtrack.Samples
{
    /// <summary>
    /// Put this next to an OfftrackTracker component (set its endpoint to your
    /// collector). It sends a hit when the scene starts, another each time
    /// LevelStarted() is called (wire it to a UI Button), and logs the events.
    /// Try it with the network off: hits are Stored, then Sent once it is back.
    /// </summary>
    [RequireComponent(typeof(OfftrackTracker))]
    public class OfftrackSample : MonoBehaviour
    {
        public int level = 1;

        OfftrackTracker _offtrack;

        void Start()
        {
            _offtrack = GetComponent<OfftrackTracker>();
            _offtrack.Sent += OnSent;
            _offtrack.Stored += OnStored;
            _offtrack.Dropped += OnDropped;
            _offtrack.Send("event=sample_start");
        }

        public void LevelStarted()
        {
            _offtrack.Send("event=level_start&level=" + level);
            level++;
        }

        void OnDestroy()
        {
            if (_offtrack == null)
                return;
            _offtrack.Sent -= OnSent;
            _offtrack.Stored -= OnStored;
            _offtrack.Dropped -= OnDropped;
        }

        static void OnSent(TrackerEvent e)
        {
            Debug.Log("Offtrack sample: delivered #" + e.Id + " " + e.Hit);
        }

        static void OnStored(TrackerEvent e)
        {
            Debug.Log("Offtrack sample: kept for later #" + e.Id + " (" + e.Reason + ")");
        }

        static void OnDropped(TrackerEvent e)
        {
            Debug.LogWarning("Offtrack sample: dropped #" + e.Id + ": " + e.Reason);
        }
    }
}
