//! TLS and mutual TLS, with certificates made inside the test: clients reach
//! both services over TLS, review-svc calls the classifier with a client
//! certificate, and a client without one is turned away.

use std::path::Path;

use exportcontrol_proto::classifier::v1 as cpb;
use exportcontrol_proto::classifier::v1::classifier_service_client::ClassifierServiceClient;
use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::review_service_client::ReviewServiceClient;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use system_tests::{
    binary, free_port, h200_to_china, ServiceProcess, CLASSIFIER_SERVICE, REVIEW_SERVICE,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "exportcontrol test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let leaf = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        ca: ca_cert.pem(),
        server: leaf("localhost"),
        client: leaf("review-svc"),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The PKI's files in `dir`, by path.
struct Files {
    ca: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

fn files(pki: &Pki, dir: &Path) -> Files {
    Files {
        ca: write(dir, "ca.pem", &pki.ca),
        server_cert: write(dir, "server.pem", &pki.server.0),
        server_key: write(dir, "server.key", &pki.server.1),
        client_cert: write(dir, "client.pem", &pki.client.0),
        client_key: write(dir, "client.key", &pki.client.1),
    }
}

fn client_tls(pki: &Pki, with_certificate: bool) -> ClientTlsConfig {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca))
        .domain_name("localhost");
    if with_certificate {
        tls.identity(Identity::from_pem(&pki.client.0, &pki.client.1))
    } else {
        tls
    }
}

async fn channel(url: &str, tls: ClientTlsConfig) -> Result<Channel, tonic::transport::Error> {
    Channel::from_shared(url.to_owned())
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

#[tokio::test]
async fn services_speak_tls_and_review_calls_the_classifier_with_a_client_certificate() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let Files {
        ca,
        server_cert,
        server_key,
        client_cert,
        client_key,
    } = files(&pki, dir.path());
    let tls_flags = |client_ca: bool| {
        let mut flags = vec![
            "--tls-cert".to_owned(),
            server_cert.clone(),
            "--tls-key".to_owned(),
            server_key.clone(),
        ];
        if client_ca {
            flags.extend(["--tls-client-ca".to_owned(), ca.clone()]);
        }
        flags
    };

    // The classifier demands client certificates (mutual TLS).
    let classifier = ServiceProcess::start_tls(
        &binary("classifier-svc"),
        free_port().unwrap(),
        tls_flags(true),
        CLASSIFIER_SERVICE,
        Some(dir.path().join("classifier.log")),
        client_tls(&pki, true),
    )
    .await
    .expect("classifier-svc starts with mutual TLS");
    let mut review_args = tls_flags(false);
    review_args.extend([
        "--dev".to_owned(),
        "--data-dir".to_owned(),
        dir.path().display().to_string(),
        "--classifier-url".to_owned(),
        classifier.url(),
        "--classifier-ca".to_owned(),
        ca.clone(),
        "--classifier-cert".to_owned(),
        client_cert,
        "--classifier-key".to_owned(),
        client_key,
    ]);
    let review = ServiceProcess::start_tls(
        &binary("review-svc"),
        free_port().unwrap(),
        review_args,
        REVIEW_SERVICE,
        Some(dir.path().join("review.log")),
        client_tls(&pki, false),
    )
    .await
    .expect("review-svc starts with TLS");

    // A client without a certificate is refused by the classifier...
    let refused = match channel(&classifier.url(), client_tls(&pki, false)).await {
        Err(_) => true,
        Ok(channel) => ClassifierServiceClient::new(channel)
            .list_rule_sets(cpb::ListRuleSetsRequest {})
            .await
            .is_err(),
    };
    assert!(refused, "the classifier must require a client certificate");
    // ...and served with one.
    let mut classifier_client = ClassifierServiceClient::new(
        channel(&classifier.url(), client_tls(&pki, true))
            .await
            .unwrap(),
    );
    assert!(!classifier_client
        .list_rule_sets(cpb::ListRuleSetsRequest {})
        .await
        .unwrap()
        .into_inner()
        .rule_sets
        .is_empty());

    // review-svc classifies over mutual TLS: the application is referred, not left pending.
    let mut client = ReviewServiceClient::new(
        channel(&review.url(), client_tls(&pki, false))
            .await
            .unwrap(),
    );
    let mut request = tonic::Request::new(h200_to_china(8));
    request
        .metadata_mut()
        .insert("authorization", "Bearer dev-applicant".parse().unwrap());
    let app = client
        .create_application(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(app.state, pb::State::AgencyReview as i32, "{app:?}");

    // Plaintext to a TLS port fails.
    let plain = format!("http://{}", review.addr);
    let plaintext = ReviewServiceClient::connect(plain).await;
    if let Ok(mut plaintext) = plaintext {
        assert!(plaintext
            .get_application(pb::GetApplicationRequest { name: app.name })
            .await
            .is_err());
    }
}

/// tonic reads the classifier's TLS files only when review-svc first calls
/// it: a CA file without a certificate, or a certificate given as the key,
/// would start a review-svc whose every filing stays pending. They stop
/// it at start, naming the file.
#[tokio::test]
async fn classifier_tls_files_that_hold_the_wrong_thing_stop_review_svc() {
    let dir = tempfile::tempdir().unwrap();
    let Files {
        ca,
        client_cert,
        client_key,
        ..
    } = files(&pki(), dir.path());
    let cases = [
        (
            vec!["--classifier-ca", &client_key],
            "client.key: no PEM certificate",
        ),
        (
            vec![
                "--classifier-ca",
                &ca,
                "--classifier-cert",
                &client_cert,
                "--classifier-key",
                &client_cert,
            ],
            "client.pem: no PEM private key",
        ),
    ];
    for (flags, reason) in cases {
        let mut review = system_tests::service_command("review-svc");
        review
            .args(["--dev", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(["--classifier-url", "https://localhost:1"])
            .args(&flags);
        let said = system_tests::refused_at_start(review).await;
        assert!(said.contains(reason), "{flags:?}: {reason} not in\n{said}");
    }
}
