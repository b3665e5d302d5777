//! Creating an app's first administrator through the app's own set-up endpoint, for apps that
//! would otherwise give the administrator account to the first visitor and have no command for
//! it (Immich, Actual, Audiobookshelf).
//!
//! The script runs as a one-off job ([`nassella_core::OneOffJob`]) inside the app's own
//! container, with the Node.js the image already has (these apps are Node.js servers), against
//! `127.0.0.1`: nothing leaves the container, and the values (the password from a derived secret)
//! come from the service's environment, never from the command line. An OK answer means created;
//! an answer saying it was done before (a restore of a backup older than the job) is success too;
//! anything else exits 1, so the unit fails and the next boot tries again.

/// A `node -e` script that POSTs `body` (a JavaScript expression, e.g.
/// `{password:process.env.NASSELLA_ADMIN_PASSWORD}`) as JSON to `url`.
///
/// - `skip_if`: an optional `(GET url, JavaScript expression over its JSON answer j)`; when the
///   expression is true, nothing is posted (the app says it is set up already).
/// - `done`: a JavaScript expression over the status `s` and the body text `t` of a refused
///   answer that means "was done before".
///
/// A request the app does not answer at all (still starting) is tried again every 5 seconds for
/// 5 minutes. The script has no `%` and no new line, so it fits a systemd `ExecStart=` as one
/// argument.
#[must_use]
pub fn node_script(
    app: &str,
    skip_if: Option<(&str, &str)>,
    url: &str,
    body: &str,
    done: &str,
) -> String {
    let skip = skip_if
        .map(|(check, expr)| {
            format!(
                "const c=await g('{check}');if((j=>{expr})(await c.json())){{console.error('{app}: set up already');return}}"
            )
        })
        .unwrap_or_default();
    format!(
        "const g=async(u,o)=>{{for(let i=0;;i++){{try{{return await fetch(u,o)}}catch(e){{if(i>=60)throw e;await new Promise(w=>setTimeout(w,5000))}}}}}};const f=async()=>{{{skip}const r=await g('{url}',{{method:'POST',headers:{{'content-type':'application/json'}},body:JSON.stringify({body})}});const s=r.status,t=await r.text();if(r.ok){{console.log('{app}: administrator created')}}else if({done}){{console.error('{app}: the administrator exists already')}}else{{throw new Error(s+' '+t)}}}};f().catch(e=>{{console.error('{app}: '+e);process.exit(1)}})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_without_specifiers() {
        let s = node_script(
            "x",
            Some(("http://127.0.0.1:1/status", "j.isInit")),
            "http://127.0.0.1:1/init",
            "{a:1}",
            "s===409",
        );
        assert!(!s.contains('\n') && !s.contains('%'), "{s}");
        assert!(s.starts_with("const g=async(u,o)=>{for(let i=0;;i++){try{return await fetch(u,o)}catch(e){if(i>=60)throw e;"), "{s}");
        assert!(s.contains("const f=async()=>{const c=await g('http://127.0.0.1:1/status');if((j=>j.isInit)(await c.json()))"), "{s}");
        assert!(s.contains("body:JSON.stringify({a:1})"), "{s}");
        assert!(s.contains("else if(s===409){"), "{s}");
        assert!(s.ends_with("process.exit(1)})"), "{s}");
        let plain = node_script("x", None, "http://127.0.0.1:1/init", "{}", "false");
        assert!(
            plain.contains("const f=async()=>{const r=await g("),
            "{plain}"
        );
    }
}
