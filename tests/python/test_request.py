"""How a request is built: timestamp, id parameter, headers, percent-encoding, origin."""

import re
import time

import pytest

import offtrack as ot


def _upper_escapes(s):
    return re.sub(r"%[0-9a-fA-F]{2}", lambda m: m.group(0).upper(), s)


def _param_names(req):
    return sorted(k for k, _ in req.query)


# ---------------------------------------------------------------- timestamps


def test_timestamp_is_unix_seconds_of_sending(make_tracker, collector):
    t = make_tracker()
    before = time.time()
    t.send_n([1])
    after = time.time()
    assert t.flush() == ot.OK
    [req] = collector.requests
    assert _param_names(req) == ["n", "ts"]
    assert int(before) <= int(req.param("ts")) <= int(after)


def test_timestamp_is_creation_time_not_delivery_time(make_tracker, collector, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir)
    before = time.time()
    t.send_n([1])
    after = time.time()
    assert t.flush() == ot.OK
    created = t.offline_oldest()["created"]
    assert int(before * 1000) - 1 <= created <= int(after * 1000) + 1
    while time.time() < after + 1.5:
        time.sleep(0.05)
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    [req] = collector.requests
    ts = int(req.param("ts"))
    assert ts == created // 1000
    assert int(before) <= ts <= int(after)
    assert req.time - ts >= 1.0
    sent = t.recorder.final_by_n()[1]
    assert ot.url_param(sent.hit, "ts") == str(ts)


def test_timestamp_of_a_stored_hit_survives_retries(make_tracker, collector, storage_dir):
    collector.down()
    t = make_tracker(storage="required", storage_path=storage_dir)
    before = time.time()
    t.send_n([1])
    after = time.time()
    assert t.flush() == ot.OK
    while time.time() < after + 1.2:
        time.sleep(0.05)
    collector.up()
    assert t.set_online(True) == ot.OK
    [req] = collector.wait_for(1)
    assert int(before) <= int(req.param("ts")) <= int(after)


def test_custom_timestamp_param(make_tracker, collector):
    t = make_tracker(timestamp_param="t")
    before = time.time()
    t.send_ok("n=1&ts=abc")  # "ts" is an ordinary parameter now
    after = time.time()
    assert t.flush() == ot.OK
    [req] = collector.requests
    assert _param_names(req) == ["n", "t", "ts"]
    assert req.params("ts") == ["abc"]
    assert int(before) <= int(req.param("t")) <= int(after)


def test_custom_timestamp_param_refuses_hits_that_carry_it(lib, make_tracker, collector):
    t = make_tracker(timestamp_param="t")
    assert t.send("n=1&t=5") == ot.ERROR_INVALID_ARGUMENT
    assert ot.last_error(lib) != ""


def test_empty_timestamp_param_turns_it_off(make_tracker, collector, storage_dir):
    t = make_tracker(timestamp_param="", storage="always", storage_path=storage_dir)
    t.send_ok("n=1", "n=2&ts=7")
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    r1, r2 = collector.requests
    assert r1.raw_query == "n=1"
    assert r2.raw_query == "n=2&ts=7"


def test_timestamp_offline_only(make_tracker, collector, storage_dir):
    t = make_tracker(timestamp_offline_only=True, storage="required", storage_path=storage_dir)
    t.send_n([1])
    assert t.flush() == ot.OK
    collector.down()
    before = time.time()
    t.send_n([2])
    after = time.time()
    assert t.flush() == ot.OK
    collector.up()
    assert t.set_online(True) == ot.OK
    t.recorder.wait_final([1, 2])
    r1, r2 = collector.requests
    assert (r1.n, r2.n) == (1, 2)
    assert _param_names(r1) == ["n"]
    assert _param_names(r2) == ["n", "ts"]
    assert int(before) <= int(r2.param("ts")) <= int(after)
    finals = t.recorder.final_by_n()
    assert ot.url_param(finals[1].hit, "ts") is None
    assert ot.url_param(finals[2].hit, "ts") == r2.param("ts")


def test_timestamp_offline_only_always_mode_hits_are_stamped(make_tracker, collector, storage_dir):
    t = make_tracker(timestamp_offline_only=True, storage="always", storage_path=storage_dir)
    t.send_n([1])
    assert t.flush() == ot.OK
    [stored] = t.recorder.events
    assert stored.kind == ot.EVENT_STORED
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    [req] = collector.requests
    assert _param_names(req) == ["n", "ts"]


def test_timestamp_offline_only_retry_after_server_error_is_stamped(make_tracker, collector, storage_dir):
    collector.script(500)
    t = make_tracker(timestamp_offline_only=True, storage="required", storage_path=storage_dir)
    t.send_n([1])
    t.recorder.wait_final([1])
    r1, r2 = collector.requests
    assert _param_names(r1) == ["n"]  # built before the hit was stored
    assert _param_names(r2) == ["n", "ts"]  # it got a STORED event in between


# ---------------------------------------------------------------- id parameter


def test_no_id_param_by_default(make_tracker, collector):
    t = make_tracker()
    t.send_n([1])
    assert t.flush() == ot.OK
    assert _param_names(collector.requests[0]) == ["n", "ts"]


def test_id_param_carries_the_event_id(make_tracker, collector):
    t = make_tracker(id_param="hid")
    t.send_n([1, 2, 3])
    assert t.flush() == ot.OK
    finals = t.recorder.final_by_n()
    reqs = collector.requests
    assert [r.n for r in reqs] == [1, 2, 3]
    for r in reqs:
        assert _param_names(r) == ["hid", "n", "ts"]
        assert int(r.param("hid")) == finals[r.n].id
    ids = [int(r.param("hid")) for r in reqs]
    assert ids == sorted(set(ids))


def test_id_param_is_the_same_on_every_retry(make_tracker, collector, storage_dir):
    collector.script(503, 500)
    t = make_tracker(id_param="hid", storage="required", storage_path=storage_dir)
    t.send_n([1])
    t.recorder.wait_final([1])
    reqs = collector.requests
    assert [r.n for r in reqs] == [1, 1, 1]
    assert len({r.param("hid") for r in reqs}) == 1
    assert int(reqs[0].param("hid")) == t.recorder.final_by_n()[1].id


# ---------------------------------------------------------------- headers and method


def test_get_with_default_user_agent(lib, make_tracker, collector):
    t = make_tracker()
    t.send_n([1])
    assert t.flush() == ot.OK
    [req] = collector.requests
    assert req.method == "GET"
    version = lib.tracker_version().decode()
    assert req.header_all("User-Agent") == [f"offtrack/{version}"]


def test_configured_headers_and_user_agent_override(make_tracker, collector):
    t = make_tracker(headers={"X-Game": "demo", "X-Build": "42", "User-Agent": "MyGame/1.0"})
    t.send_n([1])
    assert t.flush() == ot.OK
    [req] = collector.requests
    assert req.header_all("X-Game") == ["demo"]
    assert req.header_all("X-Build") == ["42"]
    assert req.header_all("User-Agent") == ["MyGame/1.0"]


def test_user_agent_override_ignores_header_name_case(make_tracker, collector):
    t = make_tracker(headers={"user-agent": "MyGame/2.0"})
    t.send_n([1])
    assert t.flush() == ot.OK
    assert collector.requests[0].header_all("User-Agent") == ["MyGame/2.0"]


def test_sent_event_hit_is_the_request_url(make_tracker, collector):
    t = make_tracker(id_param="hid")
    t.send_ok("n=1&q=a b")
    assert t.flush() == ot.OK
    [req] = collector.requests
    [sent] = t.recorder.finals()
    assert sent.kind == ot.EVENT_SENT
    assert sent.hit == collector.url + req.path


# ---------------------------------------------------------------- percent-encoding


def test_space_and_non_ascii_are_percent_encoded(make_tracker, collector):
    t = make_tracker(timestamp_param="")
    t.send_ok("n=1&q=hello world&name=Zoë&city=東京")
    assert t.flush() == ot.OK
    [req] = collector.requests
    assert _upper_escapes(req.raw_query) == "n=1&q=hello%20world&name=Zo%C3%AB&city=%E6%9D%B1%E4%BA%AC"
    assert req.params("q") == ["hello world"]
    assert req.params("name") == ["Zoë"]
    assert req.params("city") == ["東京"]


def test_existing_escapes_and_plus_are_kept(make_tracker, collector):
    t = make_tracker(timestamp_param="")
    t.send_ok("n=1&a=%41%2Fb%c3%a9&c=x+y&d=%20")
    assert t.flush() == ot.OK
    [req] = collector.requests
    assert req.raw_query == "n=1&a=%41%2Fb%c3%a9&c=x+y&d=%20"


def test_quotes_and_angle_brackets_are_encoded(make_tracker, collector):
    t = make_tracker(timestamp_param="")
    t.send_ok('n=1&a="<x>"')
    assert t.flush() == ot.OK
    [req] = collector.requests
    assert _upper_escapes(req.raw_query) == "n=1&a=%22%3Cx%3E%22"
    assert req.params("a") == ['"<x>"']


def test_percent_sign_that_is_not_an_escape_is_encoded(make_tracker, collector):
    t = make_tracker(timestamp_param="")
    t.send_ok("n=1&b=100%&c=%zz")
    assert t.flush() == ot.OK
    [req] = collector.requests
    assert _upper_escapes(req.raw_query) == "n=1&b=100%25&c=%25zz"
    assert req.params("b") == ["100%"]
    assert req.params("c") == ["%zz"]


# ---------------------------------------------------------------- origin and joining


def test_full_url_on_the_same_origin_is_accepted(make_tracker, collector):
    t = make_tracker()
    t.send_ok(collector.url + "/other/path?n=1&x=2")
    assert t.flush() == ot.OK
    [req] = collector.requests
    assert req.route == "/other/path"
    assert _param_names(req) == ["n", "ts", "x"]
    assert t.recorder.final_by_n()[1].kind == ot.EVENT_SENT


@pytest.mark.parametrize("which", ["other-port", "other-scheme", "other-host", "foreign-host"])
def test_full_url_on_another_origin_is_refused(lib, make_tracker, collector, which):
    t = make_tracker()
    other_port = collector.port + 1 if collector.port < 65535 else collector.port - 1
    hit = {
        "other-port": f"http://127.0.0.1:{other_port}/hit?n=1",
        "other-scheme": f"https://127.0.0.1:{collector.port}/hit?n=1",
        "other-host": f"http://localhost:{collector.port}/hit?n=1",
        "foreign-host": "http://example.invalid/hit?n=1",
    }[which]
    assert t.send(hit) == ot.ERROR_INVALID_ARGUMENT
    assert ot.last_error(lib) != ""
    assert t.flush() == ot.OK
    assert t.events == [] and collector.count == 0


def test_hit_is_joined_with_ampersand_when_endpoint_has_a_query(make_tracker, collector):
    t = make_tracker(endpoint=collector.endpoint + "?app=demo", timestamp_param="")
    t.send_ok("n=1&x=2")
    assert t.flush() == ot.OK
    [req] = collector.requests
    assert req.route == "/hit"
    assert req.raw_query == "app=demo&n=1&x=2"


def test_hit_query_is_kept_verbatim(make_tracker, collector):
    t = make_tracker(timestamp_param="")
    t.send_ok("n=1&a=&a=2&b&c=%26&d=x=y&e=a/b?c:d@e")
    assert t.flush() == ot.OK
    [req] = collector.requests
    assert req.raw_query == "n=1&a=&a=2&b&c=%26&d=x=y&e=a/b?c:d@e"
    assert req.params("a") == ["", "2"]


def test_non_ascii_path_of_a_full_url_is_encoded(make_tracker, collector):
    t = make_tracker(timestamp_param="")
    t.send_ok(collector.url + "/päth/a b?n=1")
    assert t.flush() == ot.OK
    [req] = collector.requests
    assert _upper_escapes(req.path) == "/p%C3%A4th/a%20b?n=1"


def test_full_url_hit_carrying_the_timestamp_is_refused(lib, make_tracker, collector):
    t = make_tracker()
    assert t.send(collector.url + "/hit?ts=5&n=1") == ot.ERROR_INVALID_ARGUMENT
    assert ot.last_error(lib) != ""
