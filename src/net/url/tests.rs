//! Endpoints, hit normalisation and URL building, case by case.

use super::*;

fn ep(url: &str) -> Endpoint {
    Endpoint::parse(url).unwrap()
}

#[test]
fn query_hits_join_the_endpoint() {
    let e = ep("http://127.0.0.1:8080/collect");
    assert_eq!(
        normalize_hit("a=1&b=2", &e, "ts", "", 8192).unwrap(),
        "http://127.0.0.1:8080/collect?a=1&b=2"
    );
    let e = ep("http://h/c?v=1");
    assert_eq!(
        normalize_hit("?a=1", &e, "ts", "", 8192).unwrap(),
        "http://h/c?v=1&a=1"
    );
}

#[test]
fn encoding_keeps_escapes_and_plus() {
    assert_eq!(percent_encode("q=a b+c%20d%zz"), "q=a%20b+c%20d%25zz");
    assert_eq!(percent_encode("n=é"), "n=%C3%A9");
}

#[test]
fn same_origin_urls_only() {
    let e = ep("http://Host:80/c");
    assert!(normalize_hit("http://host/other?a=1", &e, "ts", "", 8192).is_ok());
    assert!(normalize_hit("http://host:81/c?a=1", &e, "ts", "", 8192).is_err());
    assert!(normalize_hit("https://host/c?a=1", &e, "ts", "", 8192).is_err());
}

#[test]
fn refusals() {
    let e = ep("http://h/c");
    for hit in ["", "a=1\r\nX: y", "a=1#frag", "a=1&ts=5", "a=1&uid=3"] {
        assert!(
            normalize_hit(hit, &e, "ts", "uid", 8192).is_err(),
            "{hit:?}"
        );
    }
    let long = "a=".to_string() + &"x".repeat(200);
    assert!(normalize_hit(&long, &e, "ts", "", 100).is_err());
}

#[test]
fn question_mark_in_a_value_keeps_the_params() {
    let e = ep("http://h/c");
    let url = normalize_hit("q=why?", &e, "ts", "", 8192).unwrap();
    assert_eq!(
        build_url(&url, Some(("ts", 5)), None),
        "http://h/c?q=why?&ts=5"
    );
    assert_eq!(
        build_url("http://h/c?", Some(("ts", 5)), None),
        "http://h/c?ts=5"
    );
}

#[test]
fn encoded_names_cannot_smuggle_params() {
    let e = ep("http://h/c");
    assert!(normalize_hit("a=1&t%73=5", &e, "ts", "", 8192).is_err());
    assert!(normalize_hit("a=1&%69d=5", &e, "ts", "id", 8192).is_err());
    assert!(normalize_hit("a=1&t%7=5", &e, "ts", "", 8192).is_ok());
}

#[test]
fn one_pass_query_matches_encode_then_check() {
    // The one-pass path against the general one (percent_encode, then
    // has_param on the result), on generated hits full of edge cases.
    let pieces = [
        "ts", "id", "t%73", "%74s", "i%64", "a", "=", "&", "%", "%2", "%zz", "%41", " ", "+", "?",
        "é", "😀", "\u{7f}", "\"", "<", "ts=", "=ts", "&&", "x=1",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        let mut query = String::new();
        for _ in 0..(seed % 9) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            query.push_str(pieces[(seed % pieces.len() as u64) as usize]);
        }
        let names = ["ts", "id"];
        let mut fast = String::new();
        let found = append_query_checking_names(&mut fast, &query, &names).carried;
        let encoded = percent_encode(&query);
        let url = format!("http://h/c?{encoded}");
        let expected = names.into_iter().find(|n| has_param(&url, n));
        assert_eq!(found, expected, "{query:?}");
        if found.is_none() {
            assert_eq!(fast, encoded, "{query:?}");
        }
    }
}

#[test]
fn build_adds_params() {
    assert_eq!(
        build_url("http://h/c?a=1", Some(("ts", 5)), Some(("id", 7))),
        "http://h/c?a=1&ts=5&id=7"
    );
    assert_eq!(
        build_url("http://h/c", Some(("ts", 5)), None),
        "http://h/c?ts=5"
    );
    assert_eq!(
        build_url("http://h/c?a=1", Some(("", 5)), None),
        "http://h/c?a=1"
    );
}

#[test]
fn batch_queries_only_for_the_endpoints_path() {
    let endpoint = Endpoint::parse("http://Host:80/c/hit").unwrap();
    assert_eq!(
        batch_query("http://Host:80/c/hit?a=1&ts=5", &endpoint),
        Some("a=1&ts=5")
    );
    assert_eq!(batch_query("http://host/c/hit?a=1", &endpoint), Some("a=1"));
    assert_eq!(batch_query("http://host/c/other?a=1", &endpoint), None);
    assert_eq!(batch_query("http://host/c/hit", &endpoint), None);
    assert_eq!(batch_query("http://host/c/hit?", &endpoint), None);
    assert_eq!(batch_query("http://other/c/hit?a=1", &endpoint), None);
    let bare = Endpoint::parse("http://h:8080").unwrap();
    assert_eq!(batch_query("http://h:8080/?x=1", &bare), Some("x=1"));
    let with_query = Endpoint::parse("http://h/m.php?site=1").unwrap();
    assert_eq!(
        batch_query("http://h/m.php?site=1&a=b", &with_query),
        Some("site=1&a=b")
    );
}
