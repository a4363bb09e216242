//! S3 listing semantics over a sorted sequence of objects: prefix, delimiter, pages.

use dg_ports::{ListPage, ListRequest, ObjectInfo};

/// The default and largest page size, as on S3.
pub const MAX_KEYS: usize = 1000;

/// Builds one page from `objects`, which must be in ascending key order and may hold keys
/// outside the prefix (they are skipped).
///
/// With a delimiter, keys sharing the part up to the delimiter after the prefix collapse into
/// one common prefix, which counts as one entry of the page. `start_after` skips every entry
/// (key or common prefix) that sorts at or before it, so a common prefix returned as `next` is
/// not repeated on the following page.
pub fn paginate(objects: impl IntoIterator<Item = ObjectInfo>, request: &ListRequest) -> ListPage {
    let max = match request.max_keys {
        0 => MAX_KEYS,
        n => n.min(MAX_KEYS),
    };
    let delimiter = request.delimiter.as_deref().filter(|d| !d.is_empty());
    let mut page = ListPage::default();
    let mut last_entry: Option<String> = None;
    let mut count = 0usize;
    for object in objects {
        let key = &object.location.key;
        let Some(rest) = key.strip_prefix(request.prefix.as_str()) else {
            continue;
        };
        let common = delimiter.and_then(|d| {
            rest.find(d)
                .map(|i| format!("{}{}", request.prefix, &rest[..i + d.len()]))
        });
        let entry = common.as_deref().unwrap_or(key);
        if request
            .start_after
            .as_deref()
            .is_some_and(|after| entry <= after)
        {
            continue;
        }
        if last_entry.as_deref() == Some(entry) {
            continue; // another key under the same common prefix
        }
        if count == max {
            page.next = last_entry;
            return page;
        }
        count += 1;
        last_entry = Some(entry.to_string());
        match common {
            Some(p) => page.common_prefixes.push(p),
            None => page.objects.push(object),
        }
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use dg_ports::Location;

    fn objs(keys: &[&str]) -> Vec<ObjectInfo> {
        keys.iter()
            .map(|k| ObjectInfo {
                location: Location::new("b", *k),
                size: 0,
                last_modified: None,
                etag: None,
                metadata: Default::default(),
            })
            .collect()
    }

    #[test]
    fn delimiter_groups_and_pages() {
        let all = objs(&["a/1", "a/2", "b", "c/x/y", "d"]);
        let mut req = ListRequest {
            bucket: "b".into(),
            delimiter: Some("/".into()),
            max_keys: 2,
            ..Default::default()
        };
        let p1 = paginate(all.clone(), &req);
        assert_eq!(p1.common_prefixes, vec!["a/"]);
        assert_eq!(p1.objects.len(), 1);
        assert_eq!(p1.next.as_deref(), Some("b"));
        req.start_after = p1.next;
        let p2 = paginate(all.clone(), &req);
        assert_eq!(p2.common_prefixes, vec!["c/"]);
        assert_eq!(p2.objects[0].location.key, "d");
        assert_eq!(p2.next, None);
    }

    #[test]
    fn common_prefix_token_is_not_repeated() {
        let all = objs(&["a/1", "a/2", "b/1"]);
        let req = ListRequest {
            delimiter: Some("/".into()),
            start_after: Some("a/".into()),
            ..Default::default()
        };
        let p = paginate(all, &req);
        assert_eq!(p.common_prefixes, vec!["b/"]);
    }
}
