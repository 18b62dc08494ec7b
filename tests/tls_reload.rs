//! Certificate reloads: new connections get the new certificate (its
//! serial), open ones keep theirs, a bad file keeps the running one, and a
//! change of the files is picked up without a signal.

mod common;

use common::pki::{self, Ca, Issued};
use common::tls_proxy::*;
use common::*;
use std::time::Duration;

use imgcache::tls::Reloaded;

/// Writes `issued`'s files over `into`'s (a renewal in place).
fn replace_files(into: &Issued, issued: &Issued) {
    std::fs::copy(&issued.cert_file, &into.cert_file).expect("copy");
    std::fs::copy(&issued.key_file, &into.key_file).expect("copy");
}

/// A reload swaps the certificate new connections get (its serial
/// changes); a keep-alive connection opened before keeps working; a bad
/// file is rejected (counted) and the certificate in use stays.
#[tokio::test]
async fn reload_swaps_the_certificate_for_new_connections() {
    let ca = Ca::new("ca");
    let server = ca.server("server", 1);
    let proxy = TlsProxy::start(&server, None, false).await;
    let addr = proxy.handle.addr;
    let connector = pki::connector(&ca.file(), H1, None);
    let (mut old, serial) = Client::open(&connector, addr).await;
    assert_eq!(serial, "01");
    assert_eq!(proxy.acceptor.reload(true), Ok(Reloaded::Unchanged));

    replace_files(&server, &ca.server("renewed", 2));
    assert_eq!(
        proxy.acceptor.reload(true),
        Ok(Reloaded::Swapped {
            serial: "02".into()
        })
    );
    let (mut new, serial) = Client::open(&connector, addr).await;
    assert_eq!(serial, "02");
    assert_eq!(
        old.get(&image_path(EXAMPLE_IMAGE_ID), TOKEN_A).await.0,
        200,
        "old keeps going"
    );
    assert_eq!(new.get(&image_path(EXAMPLE_IMAGE_ID), TOKEN_A).await.0, 200);

    std::fs::write(&server.cert_file, "not a certificate").expect("write");
    let rejected = proxy.acceptor.reload(true).expect_err("a bad file");
    assert!(rejected.contains("no PEM certificate"), "{rejected}");
    let (_, serial) = Client::open(&connector, addr).await;
    assert_eq!(serial, "02", "the running certificate stays");
    let reloads = "imgcache_tls_certificate_reloads_total";
    assert_eq!(
        proxy.metric(&format!("{reloads}{{result=\"ok\"}}")).await,
        1.0
    );
    assert_eq!(
        proxy
            .metric(&format!("{reloads}{{result=\"error\"}}"))
            .await,
        1.0
    );
}

/// Without a signal, a change of the files is picked up by the watcher
/// within its interval.
#[tokio::test]
async fn a_change_of_the_files_is_picked_up() {
    let ca = Ca::new("ca");
    let server = ca.server("server", 1);
    let proxy = TlsProxy::start(&server, None, false).await;
    let watcher = tokio::spawn(imgcache::tls::watch_files(
        vec![proxy.acceptor.clone()],
        Duration::from_millis(50),
    ));
    replace_files(&server, &ca.server("renewed", 3));
    let connector = pki::connector(&ca.file(), H1, None);
    eventually("the new certificate is served", || async {
        let (_, serial) = Client::open(&connector, proxy.handle.addr).await;
        serial == "03"
    })
    .await;
    watcher.abort();
}
