//! The wiring of Audiobookshelf (`nassella-apps/src/audiobookshelf.rs`), read back from what it renders.

use super::*;

#[test]
fn audiobookshelf_wiring() {
    assert_exact_round_trip::<Audiobookshelf>();
    let host = "books.example.com";
    let (_, b) = render_one(Audiobookshelf::new(host).id("books"));
    let c = compose_file(&b, "books");
    assert_eq!(
        mounts(&c, "app"),
        ["/config", "/metadata", "/audiobooks", "/podcasts"]
    );
    assert!(!excluded_paths(&b)
        .iter()
        .any(|l| l.starts_with("/data/books")));
    assert_eq!(networks(&c, "app"), ["outbound", "proxy"]);
    let site = site_block(text(&b, CADDYFILE), host);
    assert!(site.contains(&format!("max_size {}", 5u64 << 30)), "{site}");
    assert!(site.contains("reverse_proxy books-app:80"), "{site}");
    assert!(hooks(&b, "books").is_empty());
    // The root account by a one-off job, only while the server says it is not set up.
    assert_eq!(
        env_view(&b, "books", "app")["NASSELLA_ROOT_PASSWORD"],
        "<secret:books/root-password>"
    );
    let job = unit(&b, "nassella-once-books-create-root.service");
    for part in [
        "exec books app node -e \"",
        "const c=await g('http://127.0.0.1:80/status');if((j=>j.isInit)(await c.json()))",
        "g('http://127.0.0.1:80/init',{method:'POST'",
        "body:JSON.stringify({newRoot:{username:'root',password:process.env.NASSELLA_ROOT_PASSWORD}})",
    ] {
        assert!(job.contains(part), "{part} in {job}");
    }

    let (_, b) = render_one(from_json(
        "audiobookshelf",
        "books",
        json!({"host": host, "max_upload_gb": 20}),
    ));
    assert!(site_block(text(&b, CADDYFILE), host).contains(&format!("max_size {}", 20u64 << 30)));
    assert_eq!(
        setting_problems(Audiobookshelf::new(host).max_upload_gb(0).id("books")),
        ["apps.books.max_upload_gb"]
    );
}
