//! AWS query-protocol answers, read with quick-xml's event reader into the
//! text of each leaf element by its path below the root element
//! (`AssumeRoleResult/Credentials/AccessKeyId`). The few fields each call
//! needs are then looked up by path: no serde visitor per answer type,
//! which kept about 70 KB of code in the component.

use quick_xml::Reader;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::Event;

/// The leaf elements of one document, in document order.
pub struct Document {
    leaves: Vec<(String, String)>,
}

impl Document {
    /// Parses `text`, refusing anything that is not well-formed XML
    /// (mismatched or unclosed elements, unknown entities).
    pub fn parse(text: &str) -> Result<Document, String> {
        let mut reader = Reader::from_str(text);
        // The path of the element being read below the root
        // (`AssumeRoleResult/Credentials`), and where it stood before each
        // open element was added: kept as one string, not joined per leaf.
        let mut at = String::new();
        let mut open: Vec<usize> = Vec::new();
        let mut leaves = Vec::new();
        let mut text = String::new();
        // Whether the innermost open element has had no child yet.
        let mut is_leaf = false;
        let mut saw_root = false;
        loop {
            match reader.read_event().map_err(|e| e.to_string())? {
                Event::Start(start) => {
                    saw_root = true;
                    let local = start.local_name();
                    let name = local_name(local.as_ref())?;
                    open.push(at.len());
                    if open.len() > 1 {
                        descend(&mut at, name);
                    }
                    text.clear();
                    is_leaf = true;
                }
                Event::Empty(empty) => {
                    saw_root = true;
                    let local = empty.local_name();
                    let name = local_name(local.as_ref())?;
                    if !open.is_empty() {
                        let before = at.len();
                        descend(&mut at, name);
                        leaves.push((at.clone(), String::new()));
                        at.truncate(before);
                    }
                    is_leaf = false;
                }
                Event::End(_) => {
                    if is_leaf && open.len() > 1 {
                        leaves.push((at.clone(), text.trim().to_string()));
                    }
                    if let Some(before) = open.pop() {
                        at.truncate(before);
                    }
                    is_leaf = false;
                }
                Event::Text(chunk) => {
                    let chunk = chunk.xml_content().map_err(|e| e.to_string())?;
                    if open.is_empty() && !chunk.trim().is_empty() {
                        return Err("text outside the root element".to_string());
                    }
                    text.push_str(&chunk);
                }
                Event::CData(chunk) => {
                    text.push_str(&chunk.xml_content().map_err(|e| e.to_string())?)
                }
                Event::GeneralRef(reference) => {
                    if let Some(c) = reference.resolve_char_ref().map_err(|e| e.to_string())? {
                        text.push(c);
                    } else {
                        let name = reference.xml_content().map_err(|e| e.to_string())?;
                        let value = resolve_xml_entity(&name)
                            .ok_or_else(|| format!("unknown entity &{name};"))?;
                        text.push_str(value);
                    }
                }
                Event::Eof if open.is_empty() => break,
                Event::Eof => return Err("the document ends inside an element".to_string()),
                _ => {}
            }
        }
        if !saw_root {
            return Err("the document has no root element".to_string());
        }
        Ok(Document { leaves })
    }

    /// The text of the first leaf at `path`.
    pub fn get(&self, path: &str) -> Option<&str> {
        self.leaves
            .iter()
            .find(|(at, _)| at == path)
            .map(|(_, text)| text.as_str())
    }

    /// The text at `path`, or an error naming the missing element.
    pub fn require(&self, path: &str) -> Result<String, String> {
        self.get(path)
            .map(str::to_string)
            .ok_or_else(|| format!("no {path}"))
    }

    /// The texts of every leaf at `path` (a list's `member`s), in order.
    pub fn all<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.leaves
            .iter()
            .filter(move |(at, _)| at == path)
            .map(|(_, text)| text.as_str())
    }
}

/// `at` extended by a child element's `name` (`A/B` + `C` = `A/B/C`).
fn descend(at: &mut String, name: &str) {
    if !at.is_empty() {
        at.push('/');
    }
    at.push_str(name);
}

fn local_name(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|_| "an element name is not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_are_found_by_their_path_below_the_root() {
        let doc = Document::parse(
            r#"<?xml version="1.0"?><R xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
              <Result><Names><member>a</member><member> b </member></Names>
              <Doc>%7B&amp;&#x41;<![CDATA[<x>]]></Doc><Empty/></Result></R>"#,
        )
        .unwrap();
        assert_eq!(
            doc.all("Result/Names/member").collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(doc.get("Result/Doc"), Some("%7B&A<x>"));
        assert_eq!(doc.get("Result/Empty"), Some(""));
        assert_eq!(doc.get("Result/Names"), None, "only leaves have text");
        assert_eq!(
            doc.require("Result/Missing").unwrap_err(),
            "no Result/Missing"
        );
    }

    #[test]
    fn malformed_documents_are_refused() {
        for bad in ["", "<A><B></A>", "<A><B>x</B>", "<A>&bogus;</A>", "not xml"] {
            assert!(Document::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
