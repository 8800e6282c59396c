//! Services of one test only: a PostgreSQL cluster (its own directory and port on 127.0.0.1, trust
//! auth, removed at the end) for tests that freeze their server or serve it over TLS only, and an
//! S3/DynamoDB emulator ([`OwnMoto`]) for tests that freeze it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::services::unique_name;

/// A port on 127.0.0.1 nobody listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs `cmd`; panics with its stderr if it fails.
pub fn run(cmd: &mut Command) {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sends `signal` to `pid` and, for PostgreSQL, to every backend it forked.
pub fn signal(pid: u32, signal: &str, children: bool) {
    run(Command::new("kill").args([format!("-{signal}"), pid.to_string()]));
    if children {
        // pkill exits 1 when no child matched; that is fine.
        let _ = Command::new("pkill")
            .args([format!("-{signal}"), "-P".into(), pid.to_string()])
            .status();
    }
}

/// A test's certificate authority and a server certificate it signed for 127.0.0.1 and localhost
/// (made with the `openssl` command), in a directory of the test's own.
pub struct TestCerts {
    pub dir: PathBuf,
}

impl TestCerts {
    pub fn make(dir: &Path) -> TestCerts {
        std::fs::create_dir_all(dir).expect("certs dir");
        let openssl = |args: &[&str]| run(Command::new("openssl").current_dir(dir).args(args));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=mercado test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(
            dir.join("san.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
        )
        .expect("san.ext");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ]);
        TestCerts {
            dir: dir.to_path_buf(),
        }
    }

    /// The CA's certificate: what a client trusts (`sslrootcert`).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
}

/// The cluster; stopped (immediately) and removed when dropped.
pub struct OwnPostgres {
    pub dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
}

impl OwnPostgres {
    /// `program` of the server's binaries, as the `postgres` user when the test runs as root
    /// (initdb refuses root).
    pub fn as_pg(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// A cluster with plain TCP connections on 127.0.0.1.
    pub fn start() -> OwnPostgres {
        Self::start_with(None)
    }

    /// A cluster that accepts TLS connections only (`hostssl` in pg_hba.conf), with `certs`' server
    /// certificate.
    pub fn start_tls(certs: &TestCerts) -> OwnPostgres {
        Self::start_with(Some(certs))
    }

    fn start_with(certs: Option<&TestCerts>) -> OwnPostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries (scripts/services.sh installs them)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .max()
            .expect("an initdb under /usr/lib/postgresql/*/bin");
        let dir = std::env::temp_dir().join(format!("mercado-pg-{}", unique_name()));
        std::fs::create_dir_all(&dir).expect("cluster dir");
        let pg = OwnPostgres {
            dir,
            bin,
            port: free_port(),
        };
        let data = pg.dir.join("data");
        let mut opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={} -c fsync=off -c max_connections=40",
            pg.port,
            pg.dir.display()
        );
        if let Some(certs) = certs {
            // The server reads its key only when it is private to the server's user.
            for file in ["server.pem", "server.key"] {
                std::fs::copy(certs.dir.join(file), pg.dir.join(file)).expect("copy cert");
            }
            run(Command::new("chmod")
                .arg("600")
                .arg(pg.dir.join("server.key")));
            opts.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={0}/server.pem -c ssl_key_file={0}/server.key",
                pg.dir.display()
            ));
        }
        if is_root() {
            run(Command::new("chown").arg("-R").arg("postgres").arg(&pg.dir));
        }
        run(pg.as_pg("initdb").arg("-D").arg(&data).args([
            "-U",
            "mercado",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]));
        if certs.is_some() {
            // TLS or nothing: no `host` line, so a plain connection finds no rule and is refused.
            let hba = "local all all trust\nhostssl all all 127.0.0.1/32 trust\n";
            let path = data.join("pg_hba.conf");
            std::fs::write(&path, hba).expect("pg_hba.conf");
            if is_root() {
                run(Command::new("chown").arg("postgres").arg(&path));
            }
        }
        run(pg
            .as_pg("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(pg.dir.join("server.log"))
            .args(["-w", "-t", "30", "start", "-o", &opts]));
        pg
    }

    /// The cluster's `postgres` database as the superuser `mercado`, with `query` appended
    /// (`?sslmode=…`, or empty).
    pub fn url(&self, query: &str) -> String {
        format!("postgres://mercado@127.0.0.1:{}/postgres{query}", self.port)
    }

    pub fn postmaster(&self) -> u32 {
        let text = std::fs::read_to_string(self.dir.join("data/postmaster.pid")).expect("pid file");
        text.lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("postmaster pid")
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let pid = self.postmaster();
        signal(pid, "CONT", true);
        let _ = self
            .as_pg("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The S3/DynamoDB emulator of one test only (`scripts/moto_server.py` on its own port of
/// 127.0.0.1, in memory): for tests that freeze it. Stopped (and thawed first) on drop.
pub struct OwnMoto {
    child: std::process::Child,
    pub url: String,
}

impl OwnMoto {
    pub fn start() -> OwnMoto {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let python = root.join(".local/venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: scripts/services.sh start installs it",
            python.display()
        );
        let port = free_port();
        let child = Command::new(python)
            .arg(root.join("scripts/moto_server.py"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start moto_server.py");
        let moto = OwnMoto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "moto did not listen within 60 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        moto
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for OwnMoto {
    fn drop(&mut self) {
        signal(self.pid(), "CONT", false);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
