//! The provider against rustls itself: a handshake completes, a forged
//! record is taken as the sender's and its later records still decrypt, a
//! forged close_notify ends the stream, and a corrupted record fails.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::{ClientConnection, ServerConnection};

use super::{configs, forge, Forgery, Role};

fn pair(
    version: &'static rustls::SupportedProtocolVersion,
) -> (ClientConnection, ServerConnection) {
    let (client, server) = configs(version);
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut client = ClientConnection::new(Arc::new(client), name).expect("client");
    let mut server = ServerConnection::new(Arc::new(server)).expect("server");
    // Bounded: a handshake is a few flights.
    for _ in 0..10 {
        move_tls(&mut client, &mut server);
        move_tls(&mut server, &mut client);
    }
    assert!(!client.is_handshaking() && !server.is_handshaking());
    (client, server)
}

fn move_tls<A, B>(from: &mut rustls::ConnectionCommon<A>, to: &mut rustls::ConnectionCommon<B>) {
    let mut bytes = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut bytes).expect("write_tls");
    }
    feed(to, &bytes).expect("process");
}

fn feed<B>(to: &mut rustls::ConnectionCommon<B>, mut bytes: &[u8]) -> Result<(), rustls::Error> {
    while !bytes.is_empty() {
        to.read_tls(&mut bytes).expect("read_tls");
        to.process_new_packets()?;
    }
    Ok(())
}

fn read_all(client: &mut ClientConnection) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let ended = match client.reader().read_to_end(&mut out) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(e) => panic!("read: {e}"),
    };
    (out, ended)
}

#[test]
fn forged_records_are_taken_as_the_senders_own() {
    for (version, tls13) in [
        (&rustls::version::TLS13, true),
        (&rustls::version::TLS12, false),
    ] {
        let (mut client, mut server) = pair(version);
        server.writer().write_all(b"a").expect("write");
        move_tls(&mut server, &mut client);
        let forged = forge(Role::Server, tls13, Forgery::Data, b"forged");
        feed(&mut client, &forged).expect("a forged record decrypts");
        server.writer().write_all(b"b").expect("write");
        move_tls(&mut server, &mut client);
        assert_eq!(
            read_all(&mut client),
            (b"aforgedb".to_vec(), false),
            "{version:?}"
        );
        feed(
            &mut client,
            &forge(Role::Server, tls13, Forgery::CloseNotify, &[]),
        )
        .expect("a forged close_notify");
        assert_eq!(read_all(&mut client), (Vec::new(), true), "{version:?}");
    }
}

#[test]
fn a_forged_key_update_keeps_the_stream_decrypting() {
    let (mut client, mut server) = pair(&rustls::version::TLS13);
    feed(
        &mut client,
        &forge(Role::Server, true, Forgery::KeyUpdate, &[]),
    )
    .expect("KeyUpdate");
    server.writer().write_all(b"after").expect("write");
    move_tls(&mut server, &mut client);
    assert_eq!(read_all(&mut client), (b"after".to_vec(), false));
}

#[test]
fn corrupted_and_fatal_records_fail() {
    let (mut client, mut server) = pair(&rustls::version::TLS13);
    server.writer().write_all(b"data").expect("write");
    let mut bytes = Vec::new();
    server.write_tls(&mut bytes).expect("write_tls");
    bytes[7] ^= 1;
    assert_eq!(feed(&mut client, &bytes), Err(rustls::Error::DecryptError));
    let (mut client, _server) = pair(&rustls::version::TLS13);
    let fatal = forge(Role::Server, true, Forgery::FatalAlert, &[]);
    assert!(matches!(
        feed(&mut client, &fatal),
        Err(rustls::Error::AlertReceived(_))
    ));
}
