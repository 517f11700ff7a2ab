using Offtrack;
using Offtrack.Unity;
using UnityEngine;

namespace Offtrack.Samples
{
    /// <summary>
    /// A consent dialog in front of analytics. Put this next to an
    /// OfftrackTracker whose Initial Consent is set to Pending in the
    /// Inspector. Until the player answers, hits are kept (on disk in Required
    /// and Always mode) and nothing at all is sent. Accept sends what was kept,
    /// oldest first, each hit with the time it was made; Decline deletes it and
    /// drops every later hit. The answer is remembered in the storage folder,
    /// so the dialog shows only while the consent is Pending: on the first run,
    /// or after AskAgain() (wire it to a privacy button in your settings menu).
    /// </summary>
    [RequireComponent(typeof(OfftrackTracker))]
    public class OfftrackConsentDialog : MonoBehaviour
    {
        public string question = "May we send anonymous usage statistics to help improve this game?";

        OfftrackTracker _offtrack;
        bool _asking;

        void Start()
        {
            _offtrack = GetComponent<OfftrackTracker>();
            _offtrack.Stored += OnStored;
            _offtrack.Sent += OnSent;
            _offtrack.Dropped += OnDropped;
            _asking = _offtrack.Consent == Consent.Pending;
            // Made before the answer: kept while the dialog is open, not lost.
            _offtrack.Send("event=app_start");
        }

        void OnGUI()
        {
            if (!_asking)
                return;
            GUILayout.BeginArea(new Rect(20f, 20f, Screen.width - 40f, 160f));
            GUILayout.Label(question);
            GUILayout.BeginHorizontal();
            if (GUILayout.Button("Accept"))
                Answer(Consent.Granted);
            if (GUILayout.Button("Decline"))
                Answer(Consent.Denied);
            GUILayout.EndHorizontal();
            GUILayout.EndArea();
        }

        void Answer(Consent consent)
        {
            if (_offtrack.SetConsent(consent))
                _asking = false;
        }

        /// <summary>Shows the dialog again; hits are kept, unsent, until the new answer.</summary>
        public void AskAgain()
        {
            if (_offtrack.SetConsent(Consent.Pending))
                _asking = true;
        }

        void OnDestroy()
        {
            if (_offtrack == null)
                return;
            _offtrack.Stored -= OnStored;
            _offtrack.Sent -= OnSent;
            _offtrack.Dropped -= OnDropped;
        }

        static void OnStored(TrackerEvent e)
        {
            Debug.Log("Offtrack consent sample: kept #" + e.Id + " (" + e.Reason + ")");
        }

        static void OnSent(TrackerEvent e)
        {
            Debug.Log("Offtrack consent sample: delivered #" + e.Id + " " + e.Hit);
        }

        static void OnDropped(TrackerEvent e)
        {
            Debug.Log("Offtrack consent sample: dropped #" + e.Id + ": " + e.Reason);
        }
    }
}
