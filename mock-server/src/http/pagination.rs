//! Belvo's list envelope `{count, next, previous, results}` with DRF's page-number rules:
//! `page` is 1-based (a page past the end is 404), `page_size` defaults to 100 and is clamped
//! to 1..=1000, and `next`/`previous` are ABSOLUTE URLs keeping every query parameter
//! (belvo-python follows `next` verbatim). Also `fields=` / `omit=` projections.

use serde_json::{Map, Value, json};

use super::error::ApiError;
use crate::store::{Error, Params};

pub const DEFAULT_PAGE_SIZE: usize = 100;
pub const MAX_PAGE_SIZE: usize = 1000;

/// The page size asked for: non-numbers fall back to the default, numbers are clamped.
fn page_size(params: &Params) -> usize {
    match params.get("page_size").map(|s| s.trim().parse::<i64>()) {
        Some(Ok(n)) => n.clamp(1, MAX_PAGE_SIZE as i64) as usize,
        _ => DEFAULT_PAGE_SIZE,
    }
}

/// Keeps only `fields=` and drops `omit=` keys of one record.
pub fn project(record: Value, params: &Params) -> Value {
    let Value::Object(map) = record else {
        return record;
    };
    let fields = params.list("fields");
    let omit = params.list("omit").unwrap_or_default();
    let kept: Map<String, Value> = map
        .into_iter()
        .filter(|(k, _)| fields.as_ref().is_none_or(|f| f.contains(&k.as_str())))
        .filter(|(k, _)| !omit.contains(&k.as_str()))
        .collect();
    Value::Object(kept)
}

/// The URL of `page` of this list: every other parameter kept, `page` set (or dropped for
/// page 1, as DRF does for `previous`), parameters sorted as DRF's `replace_query_param` does.
fn page_url(origin: &str, path: &str, params: &Params, page: Option<usize>) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .pairs()
        .iter()
        .filter(|(k, _)| k != "page")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let page_text = page.map(|p| p.to_string());
    if let Some(p) = &page_text {
        pairs.push(("page", p));
    }
    pairs.sort();
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    if query.is_empty() {
        format!("{origin}{path}")
    } else {
        format!("{origin}{path}?{query}")
    }
}

/// The page a list request asks for (`page`, `page_size`).
#[derive(Clone, Copy, Debug)]
pub struct Page {
    /// 1-based; 0 for a `page` that is not a number from 1 (DRF answers it 404 once the
    /// filters have been checked).
    number: usize,
    size: usize,
}

impl Page {
    pub fn of(params: &Params) -> Self {
        let number = match params.get("page") {
            None | Some("") => 1,
            Some(raw) => raw.trim().parse::<usize>().unwrap_or(0),
        };
        Self {
            number,
            size: page_size(params),
        }
    }

    /// Where this page lies in a list of `count` items; `None` (a 404) for a bad page or one
    /// past the last (an empty list has one empty page).
    pub fn range(&self, count: usize) -> Option<std::ops::Range<usize>> {
        let pages = count.div_ceil(self.size).max(1);
        if self.number == 0 || self.number > pages {
            return None;
        }
        let start = (self.number - 1) * self.size;
        Some(start..count.min(start + self.size))
    }

    /// The envelope of this page: `results` already cut to [`Page::range`] and projected.
    pub fn envelope(
        &self,
        count: usize,
        results: Vec<Value>,
        params: &Params,
        origin: &str,
        path: &str,
    ) -> Value {
        let pages = count.div_ceil(self.size).max(1);
        let page = self.number;
        let next = (page < pages).then(|| page_url(origin, path, params, Some(page + 1)));
        let previous = (page > 1).then(|| {
            let target = page - 1;
            page_url(origin, path, params, (target > 1).then_some(target))
        });
        json!({
            "count": count,
            "next": next,
            "previous": previous,
            "results": results,
        })
    }
}

/// One page of `items` as Belvo's envelope, rendering only the page's items.
pub fn paginate_with<T>(
    items: &[T],
    render: impl Fn(&T) -> Value,
    params: &Params,
    origin: &str,
    path: &str,
) -> Result<Value, ApiError> {
    let page = Page::of(params);
    let range = page.range(items.len()).ok_or(Error::NotFound)?;
    let results = items[range]
        .iter()
        .map(|item| project(render(item), params))
        .collect();
    Ok(page.envelope(items.len(), results, params, origin, path))
}

/// One page of `items` as Belvo's envelope.
pub fn paginate(
    items: Vec<Value>,
    params: &Params,
    origin: &str,
    path: &str,
) -> Result<Value, ApiError> {
    let page = Page::of(params);
    let count = items.len();
    let range = page.range(count).ok_or(Error::NotFound)?;
    let results = items
        .into_iter()
        .skip(range.start)
        .take(range.len())
        .map(|item| project(item, params))
        .collect();
    Ok(page.envelope(count, results, params, origin, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<Value> {
        (0..n).map(|i| json!({"i": i, "x": "y"})).collect()
    }

    #[test]
    fn next_and_previous_keep_every_parameter_and_are_absolute() {
        let params = Params::parse("link=abc&page_size=2&page=2&fields=i");
        let page = paginate(items(5), &params, "http://h:1", "/api/owners/")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(page["count"], 5);
        assert_eq!(
            page["next"],
            "http://h:1/api/owners/?fields=i&link=abc&page=3&page_size=2"
        );
        assert_eq!(
            page["previous"],
            "http://h:1/api/owners/?fields=i&link=abc&page_size=2"
        );
        assert_eq!(page["results"], json!([{"i": 2}, {"i": 3}]));
    }

    #[test]
    fn page_size_is_clamped_and_bad_pages_are_not_found() {
        assert_eq!(page_size(&Params::parse("page_size=5000")), 1000);
        assert_eq!(page_size(&Params::parse("page_size=0")), 1);
        assert_eq!(page_size(&Params::parse("page_size=abc")), 100);
        for query in ["page=0", "page=abc", "page=2"] {
            assert!(
                paginate(items(3), &Params::parse(query), "", "/").is_err(),
                "{query}"
            );
        }
        let empty =
            paginate(vec![], &Params::default(), "", "/").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            empty,
            json!({"count": 0, "next": null, "previous": null, "results": []})
        );
    }

    #[test]
    fn omit_drops_keys() {
        let params = Params::parse("omit=x");
        assert_eq!(project(json!({"i": 1, "x": 2}), &params), json!({"i": 1}));
    }
}
