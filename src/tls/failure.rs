//! Why a TLS handshake failed, as a small fixed set of reasons (the
//! `reason` label of `imgcache_tls_handshake_failures_total`).

use std::io;

use rustls::{CertificateError, Error, InvalidMessage, PeerIncompatible};

/// Why a handshake did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// A client certificate is required and none was sent.
    NoCertificate,
    /// The client certificate is not signed by the configured CA.
    UnknownCa,
    /// The client certificate has expired (or is not valid yet).
    Expired,
    /// The client certificate is bad in another way (signature, usage,
    /// revoked, unparseable).
    BadCertificate,
    /// The client offers only TLS versions below 1.2.
    Version,
    /// The first bytes are not TLS (plain HTTP on the TLS port).
    NotTls,
    /// Anything else the peer got wrong in the handshake.
    Protocol,
    /// Not done within `server.tls_handshake_timeout`.
    Timeout,
    /// The client closed (or reset) the connection mid-handshake.
    Closed,
}

impl HandshakeFailure {
    /// Every reason, in label order.
    pub const ALL: [HandshakeFailure; 9] = [
        HandshakeFailure::NoCertificate,
        HandshakeFailure::UnknownCa,
        HandshakeFailure::Expired,
        HandshakeFailure::BadCertificate,
        HandshakeFailure::Version,
        HandshakeFailure::NotTls,
        HandshakeFailure::Protocol,
        HandshakeFailure::Timeout,
        HandshakeFailure::Closed,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            HandshakeFailure::NoCertificate => "no_certificate",
            HandshakeFailure::UnknownCa => "unknown_ca",
            HandshakeFailure::Expired => "expired",
            HandshakeFailure::BadCertificate => "bad_certificate",
            HandshakeFailure::Version => "version",
            HandshakeFailure::NotTls => "not_tls",
            HandshakeFailure::Protocol => "protocol",
            HandshakeFailure::Timeout => "timeout",
            HandshakeFailure::Closed => "closed",
        }
    }

    /// Classifies the error tokio-rustls returned from a handshake (a
    /// rustls error travels inside an `InvalidData` I/O error).
    pub fn of(err: &io::Error) -> HandshakeFailure {
        match err.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
            Some(tls) => HandshakeFailure::of_tls(tls),
            None => HandshakeFailure::Closed,
        }
    }

    fn of_tls(err: &Error) -> HandshakeFailure {
        match err {
            Error::NoCertificatesPresented => HandshakeFailure::NoCertificate,
            Error::InvalidCertificate(cert) => match cert {
                CertificateError::UnknownIssuer => HandshakeFailure::UnknownCa,
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => HandshakeFailure::Expired,
                _ => HandshakeFailure::BadCertificate,
            },
            // A TLS 1.0/1.1 hello has no signature_algorithms (a TLS 1.2
            // extension): rustls finds that missing before it compares
            // versions.
            Error::PeerIncompatible(
                PeerIncompatible::Tls12NotOffered
                | PeerIncompatible::Tls12NotOfferedOrEnabled
                | PeerIncompatible::SignatureAlgorithmsExtensionRequired,
            ) => HandshakeFailure::Version,
            Error::InvalidMessage(InvalidMessage::InvalidContentType) => HandshakeFailure::NotTls,
            _ => HandshakeFailure::Protocol,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(err: Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }

    /// The rustls errors a handshake ends with map to their reasons; a
    /// bare I/O error (EOF, reset) is a closed connection.
    #[test]
    fn reasons() {
        let cases = [
            (Error::NoCertificatesPresented, "no_certificate"),
            (
                Error::InvalidCertificate(CertificateError::UnknownIssuer),
                "unknown_ca",
            ),
            (
                Error::InvalidCertificate(CertificateError::Expired),
                "expired",
            ),
            (
                Error::InvalidCertificate(CertificateError::BadSignature),
                "bad_certificate",
            ),
            (
                Error::PeerIncompatible(PeerIncompatible::Tls12NotOffered),
                "version",
            ),
            (
                Error::PeerIncompatible(PeerIncompatible::SignatureAlgorithmsExtensionRequired),
                "version",
            ),
            (
                Error::InvalidMessage(InvalidMessage::InvalidContentType),
                "not_tls",
            ),
            (
                Error::PeerIncompatible(PeerIncompatible::NoCipherSuitesInCommon),
                "protocol",
            ),
        ];
        for (err, label) in cases {
            assert_eq!(HandshakeFailure::of(&wrapped(err)).label(), label);
        }
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(HandshakeFailure::of(&eof), HandshakeFailure::Closed);
    }
}
