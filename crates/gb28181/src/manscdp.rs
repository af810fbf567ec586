//! MANSCDP: the XML bodies of GB/T 28181 MESSAGE and NOTIFY requests (`Application/MANSCDP+xml`).
//!
//! Decoding: devices declare GB2312 (most), GBK, GB18030 or UTF-8 in the XML declaration; the
//! bytes are decoded with `encoding_rs` by that label (GB2312 is read as GBK, its superset, as
//! browsers and devices do) before quick-xml sees them. An unknown label or bytes invalid in the
//! declared encoding are refused, not guessed at.
//!
//! Guards: at most [`MAX_BODY`] bytes, [`MAX_DEPTH`] levels and [`MAX_NODES`] elements; any
//! DOCTYPE is refused, so no entity can be declared (an XML bomb is an error naming the DOCTYPE),
//! and only the five predefined entities and character references are resolved.
//!
//! Must not: panic on any input, or trust a count a device sends (`SumNum` is checked against
//! [`MAX_CATALOG_ITEMS`] by the collector, not used to allocate).

use quick_xml::Reader;
use quick_xml::events::Event;

/// The largest MANSCDP body accepted (the SIP message limit bounds it too).
pub const MAX_BODY: usize = 64 * 1024;
pub const MAX_DEPTH: usize = 16;
pub const MAX_NODES: usize = 10_000;
/// The most channels one catalog may announce (`SumNum`); a lower platform of a province has
/// tens of thousands, a bogus count of millions is refused.
pub const MAX_CATALOG_ITEMS: u32 = 200_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("MANSCDP body of {size} bytes exceeds the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("MANSCDP body declares encoding {0:?}, which is not GB2312, GBK, GB18030 or UTF-8")]
    Encoding(String),
    #[error("MANSCDP body is not valid {0}")]
    Undecodable(&'static str),
    #[error("MANSCDP body has a DOCTYPE: refused (entity declarations are an XML bomb vector)")]
    DocType,
    #[error("MANSCDP body uses the undefined entity &{0};")]
    Entity(String),
    #[error("MANSCDP body is deeper than {MAX_DEPTH} levels or has more than {MAX_NODES} elements")]
    TooComplex,
    #[error("MANSCDP body at byte {at}: {detail}")]
    Syntax { at: u64, detail: String },
    #[error("MANSCDP body: {0}")]
    Structure(String),
    #[error("MANSCDP {what}: {detail}")]
    Field { what: &'static str, detail: String },
}

/// One element: name, trimmed direct text, children.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The trimmed text of the first direct child named `name`.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.children
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.text.as_str())
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// The encoding label of an XML declaration (`<?xml version="1.0" encoding="GB2312"?>`).
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(200)];
    let head = String::from_utf8_lossy(head);
    let decl_end = head.find("?>")?;
    let decl = head[..decl_end].strip_prefix("<?xml")?;
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?;
    let rest = rest.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &rest[1..];
    Some(rest[..rest.find(quote)?].trim().to_string())
}

/// Decodes `bytes` by their declared encoding (UTF-8 when none is declared).
pub fn decode(bytes: &[u8]) -> Result<String, XmlError> {
    if bytes.len() > MAX_BODY {
        return Err(XmlError::TooLarge {
            size: bytes.len(),
            limit: MAX_BODY,
        });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let encoding = match declared_encoding(bytes) {
        None => encoding_rs::UTF_8,
        Some(label) => match encoding_rs::Encoding::for_label(label.as_bytes()) {
            Some(e)
                if e == encoding_rs::UTF_8
                    || e == encoding_rs::GBK
                    || e == encoding_rs::GB18030 =>
            {
                e
            }
            _ => return Err(XmlError::Encoding(label)),
        },
    };
    encoding
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(|s| s.into_owned())
        .ok_or(XmlError::Undecodable(encoding.name()))
}

/// Parses a decoded document into its root element.
pub fn parse_tree(text: &str) -> Result<Element, XmlError> {
    let mut r = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut nodes = 0usize;
    // Every iteration consumes input or returns, so the loop is bounded by the input's length.
    loop {
        let ev = r.read_event().map_err(|e| XmlError::Syntax {
            at: r.error_position(),
            detail: e.to_string(),
        })?;
        match ev {
            Event::DocType(_) => return Err(XmlError::DocType),
            Event::Start(e) => {
                nodes += 1;
                if stack.len() >= MAX_DEPTH || nodes > MAX_NODES {
                    return Err(XmlError::TooComplex);
                }
                stack.push(Element {
                    name: local(e.name().as_ref()),
                    ..Default::default()
                });
            }
            Event::Empty(e) => {
                nodes += 1;
                if nodes > MAX_NODES {
                    return Err(XmlError::TooComplex);
                }
                let el = Element {
                    name: local(e.name().as_ref()),
                    ..Default::default()
                };
                attach(&mut stack, &mut root, el)?;
            }
            Event::End(_) => {
                let mut el = stack
                    .pop()
                    .ok_or_else(|| XmlError::Structure("an end tag closes nothing".into()))?;
                el.text = el.text.trim().to_string();
                attach(&mut stack, &mut root, el)?;
            }
            Event::Text(t) => {
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(g) => {
                let s = match g.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => match &*g.xml10_content() {
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "amp" => "&".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => return Err(XmlError::Entity(other.to_string())),
                    },
                    Err(e) => return Err(XmlError::Entity(e.to_string())),
                };
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&s);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
        }
    }
    if let Some(open) = stack.first() {
        return Err(XmlError::Structure(format!(
            "truncated: <{}> is not closed",
            open.name
        )));
    }
    root.ok_or_else(|| XmlError::Structure("empty document".into()))
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(p) => p.children.push(el),
        None if root.is_none() => *root = Some(el),
        None => {
            return Err(XmlError::Structure("content after the root element".into()));
        }
    }
    Ok(())
}

fn local(qname: &str) -> String {
    qname.rsplit_once(':').map_or(qname, |(_, l)| l).to_string()
}

/// ON or OFF as a device reports a channel (`Status`), or its own state (`Online`/`Status` in
/// DeviceStatus: `ONLINE`/`OFFLINE`, `OK`/`ERROR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelStatus {
    On,
    Off,
    /// Absent or a value not in the standard (kept as unknown, never read as ON).
    Unknown,
}

impl ChannelStatus {
    fn parse(s: Option<&str>) -> Self {
        match s.map(str::trim) {
            Some(v)
                if v.eq_ignore_ascii_case("ON")
                    || v.eq_ignore_ascii_case("ONLINE")
                    || v.eq_ignore_ascii_case("OK") =>
            {
                Self::On
            }
            Some(v)
                if v.eq_ignore_ascii_case("OFF")
                    || v.eq_ignore_ascii_case("OFFLINE")
                    || v.eq_ignore_ascii_case("ERROR") =>
            {
                Self::Off
            }
            _ => Self::Unknown,
        }
    }
}

/// One catalog item (a channel, or a grouping node of a platform's tree).
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogItem {
    pub device_id: String,
    pub name: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub civil_code: Option<String>,
    pub parent_id: Option<String>,
    pub address: Option<String>,
    pub status: ChannelStatus,
    pub longitude: Option<f64>,
    pub latitude: Option<f64>,
}

/// What a catalog NOTIFY says happened to one item (GB/T 28181-2016 §A.2.5, `Event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CatalogEvent {
    /// The channel is online.
    On,
    /// The channel is offline.
    Off,
    /// Video lost: online, but no picture.
    VideoLost,
    /// The channel is faulty.
    Defect,
    Add,
    Del,
    Update,
}

impl CatalogEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::On => "ON",
            Self::Off => "OFF",
            Self::VideoLost => "VLOST",
            Self::Defect => "DEFECT",
            Self::Add => "ADD",
            Self::Del => "DEL",
            Self::Update => "UPDATE",
        }
    }

    /// The wire form (case-insensitive, trimmed); `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        const ALL: [CatalogEvent; 7] = [
            CatalogEvent::On,
            CatalogEvent::Off,
            CatalogEvent::VideoLost,
            CatalogEvent::Defect,
            CatalogEvent::Add,
            CatalogEvent::Del,
            CatalogEvent::Update,
        ];
        let s = s.trim();
        ALL.into_iter().find(|e| e.as_str().eq_ignore_ascii_case(s))
    }
}

/// A MANSCDP document the platform acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Manscdp {
    /// `<Notify><CmdType>Keepalive</CmdType>`.
    Keepalive {
        sn: u32,
        device_id: String,
        status: ChannelStatus,
    },
    /// One page of `<Response><CmdType>Catalog</CmdType>`.
    CatalogPage {
        sn: u32,
        device_id: String,
        sum_num: u32,
        items: Vec<CatalogItem>,
    },
    DeviceInfo {
        sn: u32,
        device_id: String,
        manufacturer: Option<String>,
        model: Option<String>,
        firmware: Option<String>,
        channels: Option<u32>,
    },
    DeviceStatus {
        sn: u32,
        device_id: String,
        online: ChannelStatus,
        status: ChannelStatus,
        record: Option<String>,
        encode: Option<String>,
    },
    /// `<Notify><CmdType>Catalog</CmdType>`: what changed, item by item, under a catalog
    /// subscription. An item without `Event` is an `UPDATE` (its fields and Status as they are
    /// now); one with an `Event` outside the standard's seven refuses the whole document.
    CatalogNotify {
        sn: u32,
        device_id: String,
        items: Vec<(CatalogEvent, CatalogItem)>,
    },
    /// A well-formed document of a kind not handled yet (Alarm, MobilePosition, …).
    Other { root: String, cmd_type: String },
}

fn required<'a>(root: &'a Element, name: &'static str) -> Result<&'a str, XmlError> {
    root.child_text(name)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| XmlError::Field {
            what: name,
            detail: format!("missing in <{}>", root.name),
        })
}

fn number(root: &Element, name: &'static str) -> Result<u32, XmlError> {
    let s = required(root, name)?;
    s.parse().map_err(|_| XmlError::Field {
        what: name,
        detail: format!("{s:?} is not a number"),
    })
}

fn opt(e: &Element, name: &str) -> Option<String> {
    e.child_text(name)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The `<Item>`s of a document's `<DeviceList>`.
fn list_items(root: &Element) -> impl Iterator<Item = &Element> {
    root.child("DeviceList")
        .into_iter()
        .flat_map(|l| l.children.iter().filter(|c| c.name == "Item"))
}

/// Catalog item `n` (from 0, for the error) of a catalog page or NOTIFY.
fn catalog_item(item: &Element, n: usize) -> Result<CatalogItem, XmlError> {
    let Some(id) = opt(item, "DeviceID") else {
        return Err(XmlError::Field {
            what: "DeviceID",
            detail: format!("missing in catalog item {}", n + 1),
        });
    };
    Ok(CatalogItem {
        device_id: id,
        name: opt(item, "Name"),
        manufacturer: opt(item, "Manufacturer"),
        model: opt(item, "Model"),
        civil_code: opt(item, "CivilCode"),
        parent_id: opt(item, "ParentID"),
        address: opt(item, "Address"),
        status: ChannelStatus::parse(item.child_text("Status")),
        longitude: item.child_text("Longitude").and_then(|s| s.parse().ok()),
        latitude: item.child_text("Latitude").and_then(|s| s.parse().ok()),
    })
}

/// Decodes and interprets a MANSCDP body.
pub fn parse(bytes: &[u8]) -> Result<Manscdp, XmlError> {
    let text = decode(bytes)?;
    let root = parse_tree(&text)?;
    let cmd = required(&root, "CmdType")?.to_string();
    let sn = || number(&root, "SN");
    let device_id = || required(&root, "DeviceID").map(str::to_string);
    Ok(match (root.name.as_str(), cmd.as_str()) {
        ("Notify", "Keepalive") => Manscdp::Keepalive {
            sn: sn()?,
            device_id: device_id()?,
            status: ChannelStatus::parse(root.child_text("Status")),
        },
        ("Response", "Catalog") => {
            let sum_num = number(&root, "SumNum")?;
            let mut items = Vec::new();
            for (n, item) in list_items(&root).enumerate() {
                items.push(catalog_item(item, n)?);
            }
            Manscdp::CatalogPage {
                sn: sn()?,
                device_id: device_id()?,
                sum_num,
                items,
            }
        }
        ("Notify", "Catalog") => {
            let mut items = Vec::new();
            for (n, item) in list_items(&root).enumerate() {
                let event = match item.child_text("Event").filter(|s| !s.is_empty()) {
                    None => CatalogEvent::Update,
                    Some(e) => CatalogEvent::parse(e).ok_or_else(|| XmlError::Field {
                        what: "Event",
                        detail: format!(
                            "{:?} in catalog item {} is not ON, OFF, VLOST, DEFECT, ADD, DEL or UPDATE",
                            e.chars().take(40).collect::<String>(),
                            n + 1
                        ),
                    })?,
                };
                items.push((event, catalog_item(item, n)?));
            }
            Manscdp::CatalogNotify {
                sn: sn()?,
                device_id: device_id()?,
                items,
            }
        }
        ("Response", "DeviceInfo") => Manscdp::DeviceInfo {
            sn: sn()?,
            device_id: device_id()?,
            manufacturer: opt(&root, "Manufacturer"),
            model: opt(&root, "Model"),
            firmware: opt(&root, "Firmware"),
            channels: root.child_text("Channel").and_then(|s| s.parse().ok()),
        },
        ("Response", "DeviceStatus") => Manscdp::DeviceStatus {
            sn: sn()?,
            device_id: device_id()?,
            online: ChannelStatus::parse(root.child_text("Online")),
            status: ChannelStatus::parse(root.child_text("Status")),
            record: opt(&root, "Record"),
            encode: opt(&root, "Encode"),
        },
        _ => Manscdp::Other {
            root: root.name.clone(),
            cmd_type: cmd,
        },
    })
}

/// Queries the platform sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Query {
    Catalog,
    DeviceInfo,
    DeviceStatus,
}

impl Query {
    pub fn cmd_type(self) -> &'static str {
        match self {
            Self::Catalog => "Catalog",
            Self::DeviceInfo => "DeviceInfo",
            Self::DeviceStatus => "DeviceStatus",
        }
    }

    /// The body of this query to `device_id` (ASCII, so the GB2312 declaration devices expect
    /// is true of it).
    pub fn body(self, sn: u32, device_id: &str) -> Vec<u8> {
        format!(
            "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Query>\r\n<CmdType>{}</CmdType>\r\n\
             <SN>{sn}</SN>\r\n<DeviceID>{device_id}</DeviceID>\r\n</Query>\r\n",
            self.cmd_type()
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gb2312(s: &str) -> Vec<u8> {
        encoding_rs::GBK.encode(s).0.into_owned()
    }

    #[test]
    fn keepalive() {
        let body = b"<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Notify>\r\n<CmdType>Keepalive</CmdType>\r\n<SN>43</SN>\r\n<DeviceID>34020000001320000001</DeviceID>\r\n<Status>OK</Status>\r\n</Notify>\r\n";
        assert_eq!(
            parse(body).unwrap(),
            Manscdp::Keepalive {
                sn: 43,
                device_id: "34020000001320000001".into(),
                status: ChannelStatus::On
            }
        );
    }

    #[test]
    fn gb2312_catalog_page() {
        let xml = "<?xml version=\"1.0\" encoding=\"GB2312\"?>\n<Response><CmdType>Catalog</CmdType>\
            <SN>7</SN><DeviceID>34020000001110000001</DeviceID><SumNum>3</SumNum>\
            <DeviceList Num=\"2\"><Item><DeviceID>34020000001310000001</DeviceID><Name>东门 &amp; 北门</Name>\
            <Manufacturer>海康威视</Manufacturer><CivilCode>340200</CivilCode><ParentID>34020000001110000001</ParentID>\
            <Status>ON</Status><Longitude>117.28</Longitude><Latitude>31.86</Latitude></Item>\
            <Item><DeviceID>34020000001310000002</DeviceID><Status>OFF</Status></Item></DeviceList></Response>";
        let Manscdp::CatalogPage {
            sn, sum_num, items, ..
        } = parse(&gb2312(xml)).unwrap()
        else {
            panic!("not a catalog page")
        };
        assert_eq!((sn, sum_num, items.len()), (7, 3, 2));
        assert_eq!(items[0].name.as_deref(), Some("东门 & 北门"));
        assert_eq!(items[0].manufacturer.as_deref(), Some("海康威视"));
        assert_eq!(items[0].status, ChannelStatus::On);
        assert_eq!(items[0].longitude, Some(117.28));
        assert_eq!(items[1].status, ChannelStatus::Off);
    }

    #[test]
    fn catalog_notify() {
        let xml = "<?xml version=\"1.0\" encoding=\"GB2312\"?>\n<Notify><CmdType>Catalog</CmdType>\
            <SN>9</SN><DeviceID>34020000002000000009</DeviceID><SumNum>4</SumNum><DeviceList Num=\"4\">\
            <Item><DeviceID>34020000001310000001</DeviceID><Event>OFF</Event></Item>\
            <Item><DeviceID>34020000001310000002</DeviceID><Event>vlost</Event></Item>\
            <Item><DeviceID>34020000001310000003</DeviceID><Event>ADD</Event><Name>新 通道</Name>\
            <Status>ON</Status></Item>\
            <Item><DeviceID>34020000001310000004</DeviceID><Status>OFF</Status></Item>\
            </DeviceList></Notify>";
        let Manscdp::CatalogNotify {
            sn,
            device_id,
            items,
        } = parse(&gb2312(xml)).unwrap()
        else {
            panic!("not a catalog NOTIFY")
        };
        assert_eq!((sn, device_id.as_str()), (9, "34020000002000000009"));
        let events: Vec<CatalogEvent> = items.iter().map(|(e, _)| *e).collect();
        assert_eq!(
            events,
            [
                CatalogEvent::Off,
                CatalogEvent::VideoLost,
                CatalogEvent::Add,
                CatalogEvent::Update
            ]
        );
        assert_eq!(items[2].1.name.as_deref(), Some("新 通道"));
        assert_eq!(items[3].1.status, ChannelStatus::Off);
        let odd = xml.replace("<Event>OFF</Event>", "<Event>EXPLODED</Event>");
        assert!(matches!(
            parse(&gb2312(&odd)),
            Err(XmlError::Field { what: "Event", .. })
        ));
        for e in [
            CatalogEvent::On,
            CatalogEvent::Off,
            CatalogEvent::VideoLost,
            CatalogEvent::Defect,
            CatalogEvent::Add,
            CatalogEvent::Del,
            CatalogEvent::Update,
        ] {
            assert_eq!(CatalogEvent::parse(e.as_str()), Some(e));
        }
    }

    #[test]
    fn gb18030_and_utf8_and_undeclared() {
        let x = |enc: &str| {
            format!(
                "<?xml version=\"1.0\" encoding=\"{enc}\"?><Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>摄像机</DeviceID></Notify>"
            )
        };
        let gb = encoding_rs::GB18030.encode(&x("GB18030")).0.into_owned();
        assert!(
            matches!(parse(&gb).unwrap(), Manscdp::Keepalive { device_id, .. } if device_id == "摄像机")
        );
        assert!(parse(x("UTF-8").as_bytes()).is_ok());
        // UTF-8 bytes that claim GB2312 decode to other characters but do not fail here, while
        // GB2312 bytes claiming UTF-8 are invalid UTF-8 and are refused.
        let lie = gb2312(&x("UTF-8"));
        assert_eq!(parse(&lie), Err(XmlError::Undecodable("UTF-8")));
        assert_eq!(
            parse(x("Shift_JIS").as_bytes()),
            Err(XmlError::Encoding("Shift_JIS".into()))
        );
    }

    #[test]
    fn refuses_bombs_and_garbage() {
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><Notify>&lol2;</Notify>"#;
        assert_eq!(parse(bomb), Err(XmlError::DocType));
        assert_eq!(
            parse(b"<Notify><CmdType>&x;</CmdType></Notify>"),
            Err(XmlError::Entity("x".into()))
        );
        assert!(matches!(
            parse(b"<Notify><CmdType>Keepalive</CmdType>"),
            Err(XmlError::Structure(_))
        ));
        assert!(matches!(
            parse(b"<Notify><CmdType>Keepalive</CmdType><SN>x</SN><DeviceID>1</DeviceID></Notify>"),
            Err(XmlError::Field { what: "SN", .. })
        ));
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(deep.as_bytes()), Err(XmlError::TooComplex));
        assert!(matches!(
            parse(&vec![b' '; MAX_BODY + 1]),
            Err(XmlError::TooLarge { .. })
        ));
    }

    #[test]
    fn query_bodies_parse_back() {
        let text = decode(&Query::Catalog.body(5, "34020000001320000001")).unwrap();
        let root = parse_tree(&text).unwrap();
        assert_eq!(root.name, "Query");
        assert_eq!(root.child_text("CmdType"), Some("Catalog"));
        assert_eq!(root.child_text("SN"), Some("5"));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "(<[A-Za-z]{0,8}>|</[A-Za-z]{0,8}>|&[a-z#0-9]{0,5};|[^<&]{0,10}|<\\?xml encoding=\"[A-Za-z0-9-]{0,10}\"\\?>)*") {
            let _ = parse(s.as_bytes());
        }
    }
}
