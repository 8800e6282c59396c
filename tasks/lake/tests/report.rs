//! The report task on a warehouse with known data: every chart and table with the known numbers, a
//! note where a dataset is empty, the file published to the lake; then the file as headless
//! Chromium renders it (a screenshot that is not blank, every chart with marks in its DOM).

use std::path::{Path, PathBuf};
use std::process::Command;

use mercado_api::model::{Cart, CartLine, FlexId};
use mercado_lake::tasks::load_redshift;
use mercado_lake::tasks::report::{self, ReportArgs};
use mercado_lake::warehouse::{Target, WarehouseArgs};
use mercado_testkit::api::FIXTURES_SINCE;
use mercado_testkit::lake::{at, day, money, Env};
use serde_json::json;

const D1: &str = "2025-03-17";
const D2: &str = "2025-03-18";
const CHARTS: [&str; 5] = ["daily", "vendors", "categories", "funnel", "flagged"];
const CHROMIUM: &str = "/usr/bin/chromium";

/// D1: Ana buys 2 mugs (Porto, General) and a lamp (Lisboa, Home & Kitchen): 55.00, no flag.
/// D2: Rui checks out one mug five times in eight minutes (each flagged `velocity`); Bea's first
/// checkout is 100 lamps for 3,000.00 (`new_account_high_value`); Carl leaves a mug in his cart.
async fn known_days(env: &Env) {
    let app = &env.app;
    let ana = app.customer("ana@example.com").await;
    let rui = app.customer("rui@example.com").await;
    let bea = app.customer("bea@example.com").await;
    let carl = app.customer("carl@example.com").await;
    let porto = app.vendor("Porto").await;
    let lisboa = app.vendor("Lisboa & Filhos").await;
    let mug = app.item(porto, "Mug", "12.50").await;
    let lamp = app
        .post(
            &format!("/inventory?vendor_id={lisboa}"),
            json!({"item_name": "Lamp", "category": 3, "price": "30.00", "stock": 100, "created_at": FIXTURES_SINCE}),
        )
        .await;
    assert_eq!(lamp.status, 201, "{}", lamp.body);
    let lamp = lamp.body["id"].as_i64().expect("id");
    env.txn(
        "a1",
        ana,
        "2025-03-17T10:00:00Z",
        &[(mug, porto, 2, "12.50"), (lamp, lisboa, 1, "30.00")],
    )
    .await;
    env.pipeline(day(D1)).await;
    for (k, minute) in ["00", "02", "04", "06", "08"].iter().enumerate() {
        env.txn(
            &format!("r{}", k + 1),
            rui,
            &format!("2025-03-18T09:{minute}:00Z"),
            &[(mug, porto, 1, "12.50")],
        )
        .await;
    }
    env.txn(
        "b1",
        bea,
        "2025-03-18T11:00:00Z",
        &[(lamp, lisboa, 100, "30.00")],
    )
    .await;
    let cart = Cart {
        user_id: FlexId(carl),
        cart: vec![CartLine {
            item_id: FlexId(mug),
            vendor_id: FlexId(porto),
            qty: 1,
            unit_price: money("12.50"),
            total_price: money("12.50"),
        }],
        updated_at: at("2025-03-18T20:00:00Z"),
    };
    app.state.ddb.put_cart(&cart, "v").await.expect("cart");
    env.pipeline(day(D2)).await;
}

fn args(env: &Env, date: &str, warehouse: &str, out_dir: &Path) -> ReportArgs {
    ReportArgs {
        lake: env.args(day(date)),
        warehouse: WarehouseArgs {
            target: Target::Postgres,
            warehouse_url: Some(warehouse.to_string()),
        },
        out_dir: out_dir.to_path_buf(),
    }
}

/// The HTML of one section (`<section id="name">…</section>`).
fn section<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html
        .find(&format!("<section id=\"{name}\""))
        .unwrap_or_else(|| panic!("no section {name}"));
    let end = start + html[start..].find("</section>").expect("section closed");
    &html[start..end]
}

/// The `<svg data-chart="name">…</svg>` of a document, if any.
fn chart<'a>(html: &'a str, name: &str) -> Option<&'a str> {
    let start = html.find(&format!("data-chart=\"{name}\""))?;
    let start = html[..start].rfind("<svg")?;
    let end = start + html[start..].find("</svg>")?;
    Some(&html[start..end])
}

/// Data marks (not the background): bars, lines, points.
fn marks(svg: &str) -> usize {
    [
        "<rect",
        "<polyline",
        "<path",
        "<circle",
        "<line",
        "<polygon",
    ]
    .iter()
    .map(|tag| svg.matches(tag).count())
    .sum()
}

/// Table cells with these numbers, in this order, in the section.
fn assert_row(section: &str, cells: &[&str]) {
    let row: String = cells
        .iter()
        .map(|c| format!(">{}</td>", c))
        .collect::<Vec<_>>()
        .join("<td");
    assert!(
        section.replace(" class=\"n\"", "").contains(&row),
        "no row {cells:?} in\n{section}"
    );
}

#[tokio::test]
async fn the_report_has_every_chart_with_its_numbers_and_renders_in_chromium() {
    let env = Env::new().await;
    known_days(&env).await;
    let warehouse = env.warehouse().await;
    for d in [D1, D2] {
        load_redshift::run(&env.load_args(day(d), &warehouse))
            .await
            .expect("load");
    }
    let out = tempfile::tempdir().expect("tmp");

    // D2: both loaded days, every chart.
    let summary = report::run(&args(&env, D2, &warehouse, out.path()))
        .await
        .expect("report D2");
    let path = PathBuf::from(&summary.figures["report_path"]);
    assert_eq!(
        path,
        out.path()
            .canonicalize()
            .expect("canonical")
            .join("mercado-report-2025-03-18.html")
    );
    assert_eq!(
        summary.figures["report_uri"],
        format!(
            "s3://{}/reports/mercado/kpi/dt=2025-03-18/report.html",
            env.bucket
        )
    );
    let html = std::fs::read_to_string(&path).expect("report file");
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "only the report: {leftovers:?}");

    for name in CHARTS {
        let svg = chart(&html, name).unwrap_or_else(|| panic!("no chart {name}"));
        assert!(marks(svg) >= 2, "{name} has no marks: {svg}");
    }
    // Self-contained: nothing fetched from anywhere.
    for outside in ["src=", "<link", "<script", "url(", "@import", "href="] {
        assert!(
            !html.contains(outside),
            "the report refers outside: {outside}"
        );
    }

    let daily = section(&html, "daily");
    assert_row(daily, &["2025-03-17", "55.00", "1", "55.00"]);
    assert_row(daily, &["2025-03-18", "3062.50", "6", "510.42"]);
    // The orders chart: one bar per day (plus the background and the plot's frame).
    let daily_svg = chart(&html, "daily").expect("daily");
    assert!(daily_svg.contains("<polyline"), "the GMV line");
    assert!(daily_svg.matches("<circle").count() == 2, "a point per day");

    let vendors = section(&html, "vendors");
    assert!(vendors.contains("top 2 of 2 vendor(s)"));
    assert_row(vendors, &["1", "Lisboa &amp; Filhos"]);
    assert_row(vendors, &["PT", "3000.00", "1", "100"]);
    assert_row(vendors, &["2", "Porto"]);
    assert_row(vendors, &["PT", "62.50", "5", "5"]);
    assert!(
        vendors.find("Lisboa").expect("Lisboa") < vendors.rfind("Porto").expect("Porto"),
        "ranked by GMV"
    );

    let categories = section(&html, "categories");
    assert_row(
        categories,
        &["Home &amp; Kitchen", "3000.00", "100", "98.0%"],
    );
    assert_row(categories, &["General", "62.50", "5", "2.0%"]);

    let funnel = section(&html, "funnel");
    assert_row(funnel, &["carts at end of day", "7"]);
    assert_row(funnel, &["checked out", "6"]);
    assert_row(funnel, &["left open (abandoned)", "1"]);
    assert_row(funnel, &["value of open carts", "12.50"]);
    assert_row(funnel, &["abandonment rate", "14.3%"]);

    let flagged = section(&html, "flagged");
    assert!(flagged.contains("Flagged transactions: 6 (6 flag(s))"));
    assert_row(flagged, &["velocity", "5"]);
    assert_row(flagged, &["new_account_high_value", "1"]);
    for t in ["r1", "r2", "r3", "r4", "r5", "b1"] {
        assert_row(flagged, &[t]);
    }
    assert!(flagged.contains("2025-03-18 09:08:00"));
    assert!(flagged.contains("5 checkouts within 10 minutes"));
    assert!(flagged.contains(">3000.00</td>"));
    assert!(!flagged.contains(">a1</td>"), "D1's order is not D2's flag");

    // Published to the lake, the same bytes.
    let lake = env.lake().await;
    let published = lake
        .get_bytes("reports/mercado/kpi/dt=2025-03-18/report.html")
        .await
        .expect("get")
        .expect("published");
    assert_eq!(published, html.as_bytes());

    // D1: only the days up to D1; no flag, so a note instead of that chart.
    let s1 = report::run(&args(&env, D1, &warehouse, out.path()))
        .await
        .expect("report D1");
    let html1 = std::fs::read_to_string(&s1.figures["report_path"]).expect("D1 report");
    assert!(!html1.contains("2025-03-18"), "no later day in D1's report");
    assert_row(
        section(&html1, "daily"),
        &["2025-03-17", "55.00", "1", "55.00"],
    );
    assert!(chart(&html1, "flagged").is_none(), "no empty chart");
    assert!(section(&html1, "flagged")
        .contains("no data for flagged transactions: no rule fired on 2025-03-17"));
    assert_row(section(&html1, "funnel"), &["abandonment rate", "0.0%"]);

    // A date that is not loaded: a clear error, no file.
    let missing = report::run(&args(&env, "2025-03-19", &warehouse, out.path()))
        .await
        .expect_err("not loaded");
    assert!(
        missing
            .to_string()
            .contains("load_redshift --date 2025-03-19"),
        "{missing}"
    );
    assert!(!out.path().join("mercado-report-2025-03-19.html").exists());

    // As a browser shows it.
    chromium_renders(&path, &CHARTS);
    chromium_renders(Path::new(&s1.figures["report_path"]), &CHARTS[..4]);
}

/// Headless Chromium: a screenshot that is a PNG of more than one colour, and in the DOM it built,
/// every chart named with at least one mark.
fn chromium_renders(file: &Path, charts: &[&str]) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Chromium (apt-get install chromium; scripts/test.sh installs it)"
    );
    let profile = tempfile::tempdir().expect("profile");
    let shots = tempfile::tempdir().expect("shots");
    let png_path = shots.path().join("report.png");
    let url = format!("file://{}", file.display());

    chromium(
        profile.path(),
        &url,
        &format!("--screenshot={}", png_path.display()),
    );
    assert!(png_path.exists(), "no screenshot");
    // Kept for a look, like the Airflow UI's: .local/report-<file>.png.
    let keep = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.local");
    if keep.is_dir() {
        let stem = file.file_stem().map(|s| s.to_string_lossy().to_string());
        let _ = std::fs::copy(
            &png_path,
            keep.join(format!("{}.png", stem.unwrap_or_default())),
        );
    }
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png_path).expect("png"),
    ));
    let mut reader = decoder.read_info().expect("a valid PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    assert_eq!((info.width, info.height), (1280, 2000));
    let pixel = info.color_type.samples() * usize::from(info.bit_depth as u8).div_ceil(8);
    let colours: std::collections::HashSet<&[u8]> =
        buf[..info.buffer_size()].chunks(pixel).collect();
    assert!(
        colours.len() >= 8,
        "the screenshot is (nearly) one colour: {} colours",
        colours.len()
    );

    let dom = chromium(profile.path(), &url, "--dump-dom");
    let dom = String::from_utf8_lossy(&dom.stdout);
    for name in charts {
        let svg = chart(&dom, name)
            .unwrap_or_else(|| panic!("Chromium's DOM has no svg[data-chart={name}]"));
        assert!(marks(svg) >= 1, "svg[data-chart={name}] has no marks");
    }
}

/// One run of headless Chromium on `url` (at most 90 s), which must succeed.
fn chromium(profile: &Path, url: &str, what: &str) -> std::process::Output {
    let out = Command::new("timeout")
        .args(["-k", "5", "90", CHROMIUM])
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(what)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium {what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
