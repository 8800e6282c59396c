//! The lake's IAM policies (iam/lake/*.json), proved against moto's server with IAM enforcement
//! switched on: each role's allowed and denied reads and writes per zone.
//!
//! Enforcement is server-wide, so this test starts its own moto server (scripts/moto_server.py from
//! the project venv) on a free loopback port and stops it at the end.

use std::process::{Child, Command};
use std::time::Duration;

use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;

// The Iceberg tables' files and metadata: one folder per namespace (gold, cleaned).
const ZONES: [&str; 8] = [
    "raw",
    "cleaned",
    "quarantine",
    "work",
    "gold",
    "reports",
    "iceberg/gold.db",
    "iceberg/cleaned.db",
];

/// (role, zones it may read, zones it may write)
const EXPECTED: [(&str, &[&str], &[&str]); 4] = [
    (
        "data_engineer",
        &ZONES,
        &["raw", "cleaned", "quarantine", "work"],
    ),
    (
        "data_scientist",
        &[
            "cleaned",
            "gold",
            "work",
            "iceberg/gold.db",
            "iceberg/cleaned.db",
        ],
        &["work"],
    ),
    ("bi_analyst", &["gold", "reports", "iceberg/gold.db"], &[]),
    ("pipeline", &ZONES, &ZONES),
];

struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn start_moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let python = root().join(".local/venv/bin/python");
    assert!(
        python.exists(),
        "run scripts/services.sh start first (it installs moto into .local/venv)"
    );
    let child = Command::new(python)
        .arg(root().join("scripts/moto_server.py"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start moto");
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    for _ in 0..150 {
        if http
            .get(format!("{}/moto-api/", moto.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return moto;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("moto did not start on {}", moto.url);
}

fn s3(url: &str, key: &str, secret: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .force_path_style(true)
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

#[tokio::test]
async fn each_role_reads_and_writes_only_its_zones() {
    let moto = start_moto().await;
    let bucket = "mercado-lake-iam";
    let admin = s3(&moto.url, "testing", "testing");
    admin
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("bucket");
    for zone in ZONES {
        admin
            .put_object()
            .bucket(bucket)
            .key(format!("{zone}/x/dt=2025-03-17/part.parquet"))
            .body(ByteStream::from_static(b"data"))
            .send()
            .await
            .expect("seed");
    }
    let iam_conf = aws_sdk_iam::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_iam::config::Region::new("us-east-1"))
        .endpoint_url(&moto.url)
        .credentials_provider(aws_sdk_iam::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    let iam = aws_sdk_iam::Client::from_conf(iam_conf);
    let mut keys = Vec::new();
    for (role, _, _) in EXPECTED {
        let doc =
            std::fs::read_to_string(root().join(format!("iam/lake/{role}.json"))).expect("policy");
        let policy = iam
            .create_policy()
            .policy_name(format!("mercado-lake-{role}"))
            .policy_document(doc.replace("${LAKE_BUCKET}", bucket))
            .send()
            .await
            .expect("policy");
        let arn = policy
            .policy()
            .and_then(|p| p.arn())
            .expect("arn")
            .to_string();
        iam.create_user()
            .user_name(role)
            .send()
            .await
            .expect("user");
        iam.attach_user_policy()
            .user_name(role)
            .policy_arn(arn)
            .send()
            .await
            .expect("attach");
        let key = iam
            .create_access_key()
            .user_name(role)
            .send()
            .await
            .expect("key");
        let key = key.access_key().expect("access key");
        keys.push((
            key.access_key_id().to_string(),
            key.secret_access_key().to_string(),
        ));
    }

    // From here on every request must be allowed by a policy.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/moto-api/reset-auth", moto.url))
        .body("0")
        .send()
        .await
        .expect("reset-auth");
    assert!(r.status().is_success());
    let denied = admin
        .get_object()
        .bucket(bucket)
        .key("gold/x/dt=2025-03-17/part.parquet")
        .send()
        .await;
    assert!(
        denied.is_err(),
        "unknown credentials are refused once enforcement is on"
    );

    for ((role, reads, writes), (key, secret)) in EXPECTED.iter().zip(&keys) {
        let client = s3(&moto.url, key, secret);
        for zone in ZONES {
            let read = client
                .get_object()
                .bucket(bucket)
                .key(format!("{zone}/x/dt=2025-03-17/part.parquet"))
                .send()
                .await;
            assert_eq!(
                read.is_ok(),
                reads.contains(&zone),
                "{role} read {zone}: {read:?}"
            );
            let write = client
                .put_object()
                .bucket(bucket)
                .key(format!("{zone}/x/dt=2025-03-17/{role}.parquet"))
                .body(ByteStream::from_static(b"new"))
                .send()
                .await;
            assert_eq!(
                write.is_ok(),
                writes.contains(&zone),
                "{role} write {zone}: {write:?}"
            );
            if let Err(e) = &write {
                let code = e
                    .as_service_error()
                    .and_then(|s| aws_sdk_s3::error::ProvideErrorMetadata::code(s))
                    .unwrap_or_default();
                assert_eq!(code, "AccessDenied", "{role} write {zone}: {e:?}");
            }
        }
        let listed = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix("gold/")
            .send()
            .await;
        assert!(listed.is_ok(), "{role} may list the bucket: {listed:?}");
    }
}
