using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;

namespace Offtrack.MonoTests
{
    /// <summary>One request as the collector received it.</summary>
    sealed class Request
    {
        public string Method;
        public byte[] RawTarget;      // request target exactly as sent
        public string Target;         // the same, as Latin-1 text
        public byte[] Body = new byte[0];  // as far as Content-Length says
        public List<KeyValuePair<string, string>> Headers = new List<KeyValuePair<string, string>>();

        /// <summary>Query parameters, percent-decoded as UTF-8 (strictly: bad UTF-8 throws).</summary>
        public List<KeyValuePair<string, string>> Query()
        {
            var result = new List<KeyValuePair<string, string>>();
            int q = Target.IndexOf('?');
            if (q < 0)
                return result;
            foreach (string part in Target.Substring(q + 1).Split('&'))
            {
                int eq = part.IndexOf('=');
                string k = eq < 0 ? part : part.Substring(0, eq);
                string v = eq < 0 ? "" : part.Substring(eq + 1);
                result.Add(new KeyValuePair<string, string>(PercentDecode(k), PercentDecode(v)));
            }
            return result;
        }

        public string Param(string name)
        {
            foreach (var kv in Query())
                if (kv.Key == name)
                    return kv.Value;
            return null;
        }

        public string Header(string name)
        {
            foreach (var kv in Headers)
                if (string.Equals(kv.Key, name, StringComparison.OrdinalIgnoreCase))
                    return kv.Value;
            return null;
        }

        public int N
        {
            get { string n = Param("n"); return n == null ? -1 : int.Parse(n); }
        }

        static readonly UTF8Encoding StrictUtf8 = new UTF8Encoding(false, true);

        public static string PercentDecode(string s)
        {
            var bytes = new List<byte>();
            for (int i = 0; i < s.Length; i++)
            {
                char c = s[i];
                if (c == '%' && i + 2 < s.Length)
                {
                    bytes.Add(Convert.ToByte(s.Substring(i + 1, 2), 16));
                    i += 2;
                }
                else
                {
                    if (c > 0x7f)
                        throw new FormatException("raw non-ASCII character in a URL: " + s);
                    bytes.Add((byte)c);
                }
            }
            return StrictUtf8.GetString(bytes.ToArray());
        }
    }

    /// <summary>
    /// A real HTTP collector on 127.0.0.1: answers every request with a status
    /// (200 unless told otherwise, with a Retry-After header if set) and
    /// records it, body included. Down() closes the listening socket so
    /// connections are refused; Up() listens again on the same port. Hang
    /// makes it read requests and not answer until released.
    /// </summary>
    sealed class Collector : IDisposable
    {
        readonly object _lock = new object();
        readonly List<Request> _requests = new List<Request>();
        readonly ManualResetEvent _release = new ManualResetEvent(true);
        TcpListener _listener;
        Thread _acceptThread;
        volatile int _status = 200;
        volatile string _retryAfter;

        public Collector()
        {
            // Reserve a free port, then free it: the collector starts down.
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            Port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
        }

        public int Port { get; private set; }

        public string Endpoint
        {
            get { return "http://127.0.0.1:" + Port + "/hit"; }
        }

        public int Status
        {
            set { _status = value; }
        }

        /// <summary>Sent as Retry-After with every answer while not null.</summary>
        public string RetryAfter
        {
            set { _retryAfter = value; }
        }

        public void Up()
        {
            if (_listener != null)
                return;
            var listener = new TcpListener(IPAddress.Loopback, Port);
            listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Start(64);
            _listener = listener;
            _acceptThread = new Thread(() => AcceptLoop(listener)) { IsBackground = true, Name = "collector-accept" };
            _acceptThread.Start();
        }

        public void Down()
        {
            var listener = _listener;
            if (listener == null)
                return;
            _listener = null;
            listener.Stop();
            _acceptThread.Join(5000);
        }

        /// <summary>Requests are read but not answered until Release().</summary>
        public void Hang()
        {
            _release.Reset();
        }

        public void Release()
        {
            _release.Set();
        }

        public List<Request> Requests
        {
            get { lock (_lock) return new List<Request>(_requests); }
        }

        /// <summary>Waits until at least <paramref name="count"/> requests arrived; returns them all.</summary>
        public List<Request> WaitFor(int count, int timeoutMs)
        {
            DateTime deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            lock (_lock)
            {
                while (_requests.Count < count)
                {
                    int left = (int)(deadline - DateTime.UtcNow).TotalMilliseconds;
                    if (left <= 0)
                        break;
                    Monitor.Wait(_lock, left);
                }
                return new List<Request>(_requests);
            }
        }

        public void Dispose()
        {
            Release();
            Down();
        }

        void AcceptLoop(TcpListener listener)
        {
            while (true)
            {
                TcpClient client;
                try
                {
                    client = listener.AcceptTcpClient();
                }
                catch (Exception)
                {
                    return; // stopped
                }
                var t = new Thread(() => Serve(client)) { IsBackground = true, Name = "collector-conn" };
                t.Start();
            }
        }

        void Serve(TcpClient client)
        {
            try
            {
                using (client)
                {
                    client.ReceiveTimeout = 5000;
                    client.SendTimeout = 5000;
                    NetworkStream stream = client.GetStream();
                    byte[] head = ReadHead(stream);
                    if (head == null)
                        return;
                    Request request = Parse(head);
                    if (request == null)
                        return;
                    string length = request.Header("Content-Length");
                    if (length != null)
                        request.Body = ReadBody(stream, int.Parse(length));
                    lock (_lock)
                    {
                        _requests.Add(request);
                        Monitor.PulseAll(_lock);
                    }
                    _release.WaitOne(20000);
                    int status = _status;
                    string retryAfter = _retryAfter;
                    byte[] answer = Encoding.ASCII.GetBytes(
                        "HTTP/1.1 " + status + " " + (status == 200 ? "OK" : "Status") + "\r\n" +
                        (retryAfter != null ? "Retry-After: " + retryAfter + "\r\n" : "") +
                        "Content-Length: 0\r\nConnection: close\r\n\r\n");
                    stream.Write(answer, 0, answer.Length);
                    stream.Flush();
                }
            }
            catch (Exception)
            {
                // A client that gave up (timeout, shutdown) makes I/O fail here; that is expected.
            }
        }

        static byte[] ReadHead(Stream stream)
        {
            var buffer = new MemoryStream();
            var one = new byte[1];
            int matched = 0;
            while (buffer.Length < 65536)
            {
                int n = stream.Read(one, 0, 1);
                if (n <= 0)
                    return null;
                buffer.WriteByte(one[0]);
                byte b = one[0];
                if ((matched % 2 == 0 && b == '\r') || (matched % 2 == 1 && b == '\n'))
                    matched++;
                else
                    matched = b == '\r' ? 1 : 0;
                if (matched == 4)
                    return buffer.ToArray();
            }
            return null;
        }

        static byte[] ReadBody(Stream stream, int length)
        {
            var body = new byte[length];
            int read = 0;
            while (read < length)
            {
                int n = stream.Read(body, read, length - read);
                if (n <= 0)
                    break;
                read += n;
            }
            return body;
        }

        static Request Parse(byte[] head)
        {
            string text = Encoding.GetEncoding("iso-8859-1").GetString(head);
            string[] lines = text.Split(new[] { "\r\n" }, StringSplitOptions.None);
            string[] first = lines[0].Split(' ');
            if (first.Length < 3)
                return null;
            var request = new Request();
            request.Method = first[0];
            request.Target = first[1];
            int start = Array.IndexOf(head, (byte)' ') + 1;
            request.RawTarget = new byte[first[1].Length];
            Array.Copy(head, start, request.RawTarget, 0, request.RawTarget.Length);
            for (int i = 1; i < lines.Length; i++)
            {
                int colon = lines[i].IndexOf(':');
                if (colon > 0)
                    request.Headers.Add(new KeyValuePair<string, string>(
                        lines[i].Substring(0, colon).Trim(), lines[i].Substring(colon + 1).Trim()));
            }
            return request;
        }
    }
}
