//! Test helpers (not a test): headless Chromium (Debian `chromium`) driven over WebDriver
//! (`chromium-driver`, the `fantoccini` crate), shared by the console's browser tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use super::common;

pub const INSTALL: &str = "apt-get install chromium chromium-driver fonts-wqy-microhei";

/// chromedriver on a free loopback port; killed on drop.
pub struct Driver(Child, pub u16);

impl Driver {
    pub fn start(dir: &Path) -> Self {
        let log = dir.join("chromedriver.log");
        let mut child = Command::new("chromedriver")
            .arg("--port=0")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = text.split("started successfully on port ").nth(1) {
                let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(port) = port.parse() {
                    return Self(child, port);
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "chromedriver did not start: {:?}",
            std::fs::read_to_string(&log)
        );
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn peers() -> bool {
    common::peer("chromium", &["--version"], INSTALL)
        && common::peer("chromedriver", &["--version"], INSTALL)
}

pub fn screens() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screens");
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub async fn browser(port: u16) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1366,768", "--lang=zh-CN"],
        }),
    );
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("connecting to chromedriver")
}

/// The text of `css` once `ok` accepts it (bounded: 20 s).
pub async fn text_when(c: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            last = e.text().await.unwrap_or_default();
            if ok(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{css}: never as expected; last text {last:?}");
}

pub async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screens().join(format!("{name}.png")), png).unwrap();
}

pub async fn sign_in(c: &Client, root: &str, name: &str, password: &str) {
    c.goto(root).await.unwrap();
    // The page decides after asking /me: the sign-in form, or the shell of the previous
    // role's session (then sign out first). Bounded: 20 s.
    let mut form = None;
    for _ in 0..100 {
        if let Ok(f) = c.find(Locator::Css("#login")).await {
            form = Some(f);
            break;
        }
        if let Ok(out) = c.find(Locator::Css("#logout")).await {
            let _ = out.click().await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let form = form.expect("the sign-in form");
    form.find(Locator::Css("input[name=name]"))
        .await
        .unwrap()
        .send_keys(name)
        .await
        .unwrap();
    form.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

pub async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
}

pub async fn go(c: &Client, root: &str, hash: &str) {
    c.goto(&format!("{root}#/{hash}")).await.unwrap();
}
