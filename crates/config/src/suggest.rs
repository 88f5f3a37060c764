//! "Did you mean …?" for a mistyped name: the known names within a few
//! edits of it (a swap of two neighbours counts as one edit, so `wbe` is one
//! edit from `web`).

/// At most this many names are suggested.
const MAX_SUGGESTIONS: usize = 3;

/// The names of `known` close to `name`, closest first (ties in name order).
/// Close means within one edit for every three characters of `name`, at
/// least one.
pub fn close_names<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    let mut close: Vec<(usize, &str)> = known
        .into_iter()
        .filter(|k| *k != name)
        .map(|k| (strsim::osa_distance(name, k), k))
        .filter(|(d, _)| *d <= limit)
        .collect();
    close.sort();
    close.dedup();
    close.truncate(MAX_SUGGESTIONS);
    close.into_iter().map(|(_, k)| k).collect()
}

/// `; did you mean web?` (or `a, b or c?`) when some of `known` are close
/// to `name`; empty otherwise.
pub fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    let close = close_names(name, known);
    match close.as_slice() {
        [] => String::new(),
        [one] => format!("; did you mean {one}?"),
        [init @ .., last] => format!("; did you mean {} or {last}?", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_first_and_far_ones_left_out() {
        let known = ["web", "web-1", "web-2", "db", "database", "lb"];
        assert_eq!(close_names("wbe", known), ["web"]);
        assert_eq!(close_names("web-3", known), ["web-1", "web-2"]);
        assert_eq!(close_names("databse", known), ["database"]);
        assert!(close_names("metrics", known).is_empty());
        // The name itself is not a suggestion.
        assert_eq!(close_names("db", known), ["lb"]);
    }

    #[test]
    fn sentence() {
        assert_eq!(did_you_mean("wbe", ["web", "db"]), "; did you mean web?");
        assert_eq!(
            did_you_mean("web-", ["web-1", "web-2", "web"]),
            "; did you mean web, web-1 or web-2?"
        );
        assert_eq!(did_you_mean("zz-top", ["web", "db"]), "");
    }
}
