//! A real OpenLDAP `slapd` on a loopback port with a throw-away database made by `slapadd` from
//! an LDIF, in a temp folder; killed when dropped.

use std::io::Write as _;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SUFFIX: &str = "dc=example,dc=org";

pub struct Slapd {
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

/// An LDIF with the tree, `users` (uid, password) and `groups` (cn, member uids).
pub fn ldif(users: &[(&str, &str)], groups: &[(&str, &[&str])]) -> String {
    let mut s = format!(
        "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
         dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n\n"
    );
    for (uid, pw) in users {
        let hash = String::from_utf8(
            Command::new("slappasswd")
                .args(["-s", pw])
                .output()
                .expect("slappasswd (Debian package slapd)")
                .stdout,
        )
        .unwrap();
        s.push_str(&format!(
            "dn: uid={uid},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\nmail: {uid}@example.org\nuserPassword: {}\n\n",
            hash.trim()
        ));
    }
    for (cn, members) in groups {
        s.push_str(&format!(
            "dn: cn={cn},ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: {cn}\n"
        ));
        for m in *members {
            s.push_str(&format!("member: uid={m},ou=people,{SUFFIX}\n"));
        }
        s.push('\n');
    }
    s
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Slapd {
    pub fn start(ldif_text: &str) -> Self {
        let dir = tempfile::Builder::new().prefix("slapd-").tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("db")).unwrap();
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             pidfile {pid}\n\
             database mdb\n\
             maxsize 16777216\n\
             suffix \"{SUFFIX}\"\n\
             rootdn \"cn=admin,{SUFFIX}\"\n\
             directory {db}\n\
             access to attrs=userPassword by anonymous auth by self read by * none\n\
             access to * by * read\n",
            pid = d.join("slapd.pid").display(),
            db = d.join("db").display()
        );
        std::fs::write(d.join("slapd.conf"), conf).unwrap();
        write_file(&d.join("data.ldif"), ldif_text);
        let out = Command::new("slapadd")
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .arg("-l")
            .arg(d.join("data.ldif"))
            .output()
            .expect("slapadd (Debian package slapd)");
        assert!(
            out.status.success(),
            "slapadd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let url = format!("ldap://127.0.0.1:{port}");
        let child = Command::new("slapd")
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .arg("-h")
            .arg(&url)
            .args(["-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("slapd");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "slapd did not listen on {url}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            url,
            child,
            _dir: dir,
        }
    }
}

fn write_file(p: &Path, text: &str) {
    let mut f = std::fs::File::create(p).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
