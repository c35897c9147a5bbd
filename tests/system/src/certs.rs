//! Test certificates, generated with rcgen (ring) for each test bed and written as PEM files
//! in a temporary directory: a test CA, a server certificate for `localhost` and 127.0.0.1
//! and a client certificate both signed by it, and a second, unrelated CA that trusts
//! neither.

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// The PEM files of one test PKI (removed on drop).
#[derive(Debug)]
pub struct Certs {
    /// The test CA's certificate: trust this to accept the server and the client.
    pub ca: PathBuf,
    /// The broker's certificate (`localhost`, 127.0.0.1), signed by the test CA.
    pub server_cert: PathBuf,
    /// Its key.
    pub server_key: PathBuf,
    /// A client certificate signed by the test CA.
    pub client_cert: PathBuf,
    /// Its key.
    pub client_key: PathBuf,
    /// An unrelated CA: whoever trusts only this refuses the broker.
    pub other_ca: PathBuf,
    dir: TempDir,
}

fn ca(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
}

/// A leaf certificate for `names` with `usage`, signed by `issuer`: (PEM, key PEM).
fn leaf(
    common_name: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<(String, String)> {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn write(dir: &Path, name: &str, pem: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, pem).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

impl Certs {
    /// Generates a fresh PKI.
    pub fn generate() -> Result<Certs> {
        let dir = tempfile::Builder::new()
            .prefix("lockgate-certs-")
            .tempdir()?;
        let d = dir.path();
        let test_ca = ca("lockgate systest CA")?;
        let other_ca = ca("unrelated CA")?;
        let (server, server_key) = leaf(
            "localhost",
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
            &test_ca,
        )?;
        let (client, client_key) = leaf(
            "lockgate-systest-client",
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
            &test_ca,
        )?;
        Ok(Certs {
            ca: write(d, "ca.pem", &test_ca.pem())?,
            server_cert: write(d, "server.pem", &server)?,
            server_key: write(d, "server.key", &server_key)?,
            client_cert: write(d, "client.pem", &client)?,
            client_key: write(d, "client.key", &client_key)?,
            other_ca: write(d, "other-ca.pem", &other_ca.pem())?,
            dir,
        })
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
