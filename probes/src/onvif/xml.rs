//! A small, bounded XML tree for SOAP replies. quick-xml does the tokenising; this keeps only
//! what a probe reads (local names, attributes, text) and refuses what an attacker would use:
//! any DOCTYPE (so no entity can be declared, let alone expanded), undefined entity references,
//! more than `MAX_DEPTH` levels or `MAX_NODES` elements. Input size is capped by the caller.

use quick_xml::Reader;
use quick_xml::events::Event;

const MAX_DEPTH: usize = 48;
const MAX_NODES: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Element {
    /// Local name, without namespace prefix.
    pub name: String,
    pub attrs: Vec<(String, String)>,
    /// Concatenated text directly inside this element, trimmed.
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// First descendant (depth-first, self excluded) with this local name.
    pub fn find(&self, name: &str) -> Option<&Element> {
        for c in &self.children {
            if c.name == name {
                return Some(c);
            }
            if let Some(f) = c.find(name) {
                return Some(f);
            }
        }
        None
    }

    /// Every descendant with this local name, in document order.
    pub fn find_all<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        for c in &self.children {
            if c.name == name {
                out.push(c);
            }
            c.find_all(name, out);
        }
    }

    /// Follows direct children by local name.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        let mut e = self;
        for n in names {
            e = e.children.iter().find(|c| c.name == *n)?;
        }
        Some(e)
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Text of the first descendant named `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.find(name).map(|e| e.text.as_str())
    }
}

fn local(qname: &str) -> String {
    match qname.rsplit_once(':') {
        Some((_, l)) => l.to_string(),
        None => qname.to_string(),
    }
}

fn start(e: &quick_xml::events::BytesStart<'_>) -> Result<Element, String> {
    let mut el = Element {
        name: local(e.name().as_ref()),
        ..Default::default()
    };
    for a in e.attributes() {
        let a = a.map_err(|e| format!("bad attribute: {e}"))?;
        let v = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("bad attribute value: {e}"))?;
        el.attrs.push((local(a.key.as_ref()), v.into_owned()));
    }
    Ok(el)
}

/// Parses a whole document into its root element.
pub fn parse(xml: &[u8]) -> Result<Element, String> {
    let text = std::str::from_utf8(xml).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut r = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut nodes = 0usize;
    loop {
        let ev = r
            .read_event()
            .map_err(|e| format!("at byte {}: {e}", r.error_position()))?;
        match ev {
            Event::DocType(_) => {
                return Err(
                    "a DOCTYPE is refused (entity declarations are an XML bomb vector)".into(),
                );
            }
            Event::Start(e) => {
                nodes += 1;
                if stack.len() >= MAX_DEPTH || nodes > MAX_NODES {
                    return Err(format!(
                        "too deep or too many elements (limits {MAX_DEPTH} levels, {MAX_NODES} elements)"
                    ));
                }
                stack.push(start(&e)?);
            }
            Event::Empty(e) => {
                nodes += 1;
                if nodes > MAX_NODES {
                    return Err(format!("more than {MAX_NODES} elements"));
                }
                let el = start(&e)?;
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err("content after the root element".into()),
                }
            }
            Event::End(_) => {
                let mut el = stack.pop().ok_or("unbalanced end tag")?;
                el.text = el.text.trim().to_string();
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err("content after the root element".into()),
                }
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
                let s = match g.resolve_char_ref().map_err(|e| format!("{e}"))? {
                    Some(c) => c.to_string(),
                    None => match &*g.xml10_content() {
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "amp" => "&".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => return Err(format!("undefined entity &{other};")),
                    },
                };
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&s);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(format!("truncated: <{}> is not closed", stack[0].name));
    }
    root.ok_or_else(|| "empty document".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_soap_with_namespaces_and_entities() {
        let x = br#"<?xml version="1.0"?><s:Envelope xmlns:s="x"><s:Body><trt:GetProfilesResponse>
            <trt:Profiles token="P&amp;1" fixed="true"><tt:Name>main &lt;1&gt; &#x41;</tt:Name></trt:Profiles>
            <trt:Profiles token="P2"/></trt:GetProfilesResponse></s:Body></s:Envelope>"#;
        let e = parse(x).unwrap();
        assert_eq!(e.name, "Envelope");
        let mut p = Vec::new();
        e.find_all("Profiles", &mut p);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].attr("token"), Some("P&1"));
        assert_eq!(p[0].text_of("Name"), Some("main <1> A"));
        assert_eq!(
            e.path(&["Body", "GetProfilesResponse"])
                .unwrap()
                .children
                .len(),
            2
        );
    }

    #[test]
    fn refuses_bombs_and_garbage() {
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><a>&lol2;</a>"#;
        assert!(parse(bomb).unwrap_err().contains("DOCTYPE"));
        assert!(
            parse(b"<a>&xxe;</a>")
                .unwrap_err()
                .contains("undefined entity")
        );
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(deep.as_bytes()).unwrap_err().contains("too deep"));
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"<a><b>").unwrap_err().contains("not closed"));
        assert!(parse(b"").is_err());
        assert!(parse(&[0xff, 0xfe]).is_err());
    }
}
