//! A small tree of S3's XML answers (`quick-xml`): entities resolved, text kept byte for byte.

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::Reader;

/// One element: its local name (no namespace prefix), its text and its child elements.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The root element of `xml`, or why it is not well-formed.
    ///
    /// Text is kept exactly as the entities and character references spell it: no whitespace
    /// trimmed, no end-of-line normalised (S3 keys may end in a space or hold a `\r`).
    pub fn parse(xml: &str) -> Result<Element, String> {
        let mut reader = Reader::from_str(xml);
        let mut open: Vec<Element> = Vec::new();
        let mut root = None;
        let named = |raw: &[u8]| Element {
            name: String::from_utf8_lossy(raw).into_owned(),
            ..Element::default()
        };
        loop {
            let event = reader.read_event().map_err(|e| e.to_string())?;
            let done = match event {
                Event::Start(e) => {
                    open.push(named(e.local_name().as_ref()));
                    None
                }
                Event::Empty(e) => Some(named(e.local_name().as_ref())),
                Event::End(_) => Some(open.pop().ok_or("an end tag without a start")?),
                Event::Text(t) => {
                    let text = t.decode().map_err(|e| e.to_string())?;
                    push_text(&mut open, &text);
                    None
                }
                Event::CData(t) => {
                    let text = t.decode().map_err(|e| e.to_string())?;
                    push_text(&mut open, &text);
                    None
                }
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                        Some(c) => c.to_string(),
                        None => {
                            let name = r.decode().map_err(|e| e.to_string())?;
                            resolve_predefined_entity(&name)
                                .ok_or_else(|| format!("unknown entity &{name};"))?
                                .to_string()
                        }
                    };
                    push_text(&mut open, &resolved);
                    None
                }
                Event::Eof => break,
                _ => None,
            };
            if let Some(element) = done {
                match open.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None if root.is_none() => root = Some(element),
                    None => return Err("more than one root element".into()),
                }
            }
        }
        if !open.is_empty() {
            return Err("the document ends inside an element".into());
        }
        root.ok_or_else(|| "no element".into())
    }

    /// The child elements called `name`, in document order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child element called `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.children
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.text.as_str())
    }
}

fn push_text(open: &mut [Element], text: &str) {
    if let Some(current) = open.last_mut() {
        current.text.push_str(text);
    }
}

/// `s` with `&`, `<`, `>`, `"` and `'` escaped, for element text.
pub(super) fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_references_and_whitespace() {
        let xml = "<?xml version=\"1.0\"?>\n\
            <r xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
            <Key> a&amp;b&lt;&gt;&quot;&apos;&#9;&#x41;\r </Key><Key/>\
            <s3:P xmlns:s3=\"x\"><![CDATA[<x>]]></s3:P></r>";
        let root = Element::parse(xml).unwrap();
        assert_eq!(root.name, "r");
        let keys: Vec<&str> = root.all("Key").map(|k| k.text.as_str()).collect();
        assert_eq!(keys, [" a&b<>\"'\tA\r ", ""]);
        assert_eq!(root.text_of("P"), Some("<x>"));
        assert_eq!(root.text_of("None"), None);
        assert!(Element::parse("<a><b></a>").is_err());
        assert!(Element::parse("<a>&bogus;</a>").is_err());
        assert!(Element::parse("").is_err());
        assert!(Element::parse("<a>").is_err());
        assert_eq!(escape("<\"&'>"), "&lt;&quot;&amp;&apos;&gt;");
    }
}
