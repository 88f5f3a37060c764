//! How plays look on the terminal: a table of containers, one line each,
//! live on a terminal (a spinner with the current step and elapsed time per
//! container in flight) and one plain line per finished container
//! otherwise; colour only on a terminal and without NO_COLOR.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use maestro_config::Container;
use maestro_plays::observe::status::ContainerState;
use maestro_plays::{Observer, Outcome};

/// Colours, when the output is a terminal and NO_COLOR is unset.
#[derive(Clone, Copy)]
pub struct Palette {
    on: bool,
}

impl Palette {
    pub fn for_stdout() -> Palette {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Palette {
            on: !no_color && std::io::stdout().is_terminal(),
        }
    }
    /// No colours (for tests of rendered text).
    #[cfg(test)]
    pub fn plain() -> Palette {
        Palette { on: false }
    }
    fn paint(self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    pub fn green(self, t: &str) -> String {
        self.paint("32", t)
    }
    pub fn red(self, t: &str) -> String {
        self.paint("31", t)
    }
    pub fn yellow(self, t: &str) -> String {
        self.paint("33", t)
    }
    pub fn blue(self, t: &str) -> String {
        self.paint("34", t)
    }
    pub fn bold(self, t: &str) -> String {
        self.paint("1", t)
    }
    /// The `index`th of a few easily told apart colours (for the names that
    /// prefix the lines of several containers).
    pub fn tint(self, index: usize, t: &str) -> String {
        const CYCLE: [&str; 6] = ["36", "33", "32", "35", "34", "31"];
        self.paint(CYCLE[index % CYCLE.len()], t)
    }
}

/// A state as `status --json` gives it: its word, the id, how long, the
/// exit status (not for one created and never started), the error.
pub(crate) fn state_fields(state: &ContainerState) -> StateFields {
    match state {
        ContainerState::Running { id, since } => {
            ("running", Some(id.clone()), since.clone(), None, None)
        }
        ContainerState::Stopped {
            id,
            since,
            exit_code,
            never_started,
        } => (
            "stopped",
            Some(id.clone()),
            since.clone(),
            (!never_started).then_some(*exit_code),
            None,
        ),
        ContainerState::Restarting { id, exit_code, .. } => {
            ("restarting", Some(id.clone()), None, Some(*exit_code), None)
        }
        ContainerState::Absent => ("absent", None, None, None, None),
        ContainerState::HostDown(e) => ("host down", None, None, None, Some(e.clone())),
        ContainerState::Error(e) => ("error", None, None, None, Some(e.clone())),
        ContainerState::Untrusted(e) => ("host key refused", None, None, None, Some(e.clone())),
    }
}

/// See [`state_fields`].
pub(crate) type StateFields = (
    &'static str,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

/// Column widths of the container table.
pub struct Table {
    order: usize,
    name: usize,
    service: usize,
    ship: usize,
}

impl Table {
    pub fn new(containers: &[&Container], ship_label: impl Fn(&Container) -> String) -> Table {
        Table {
            order: containers.len().to_string().len() + 1,
            name: containers
                .iter()
                .map(|c| c.name.len())
                .max()
                .unwrap_or(0)
                .max(8),
            service: containers
                .iter()
                .map(|c| c.service.len())
                .max()
                .unwrap_or(0)
                .max(7),
            ship: containers
                .iter()
                .map(|c| ship_label(c).len())
                .max()
                .unwrap_or(0)
                .max(4),
        }
    }

    pub fn header(&self, last: &str) -> String {
        format!(
            "  {:>o$}  {:<n$}  {:<s$}  {:<h$}  {last}",
            "#",
            "INSTANCE",
            "SERVICE",
            "SHIP",
            o = self.order,
            n = self.name,
            s = self.service,
            h = self.ship
        )
    }

    pub fn row(&self, order: usize, c: &Container, ship: &str, rest: &str) -> String {
        format!(
            "  {:>o$}  {:<n$}  {:<s$}  {:<h$}  {rest}",
            format!("{order}."),
            c.name,
            c.service,
            ship,
            o = self.order,
            n = self.name,
            s = self.service,
            h = self.ship
        )
    }
}

/// Shows a play's progress.
pub struct PlayView<'a> {
    containers: &'a [&'a Container],
    table: Table,
    palette: Palette,
    live: Option<(MultiProgress, Vec<Mutex<Option<ProgressBar>>>)>,
    out: Mutex<()>,
    /// Without a terminal: the last quarter of a pull reported, per container.
    pull_quarters: Mutex<Vec<u8>>,
    /// The number each container's row shows.
    numbers: Vec<usize>,
}

impl<'a> PlayView<'a> {
    /// `numbers`: the number each container's row shows (in the order of
    /// `containers`).
    pub fn new(containers: &'a [&'a Container], numbers: Vec<usize>) -> PlayView<'a> {
        let table = Table::new(containers, |c| c.ship.clone());
        let palette = Palette::for_stdout();
        let live = if std::io::stdout().is_terminal() && std::env::var_os("CI").is_none() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
            let bars = containers.iter().map(|_| Mutex::new(None)).collect();
            Some((multi, bars))
        } else {
            None
        };
        println!("{}", palette.bold(&table.header("STATUS")));
        PlayView {
            containers,
            table,
            palette,
            live,
            out: Mutex::new(()),
            pull_quarters: Mutex::new(vec![0; containers.len()]),
            numbers,
        }
    }

    fn line(&self, index: usize, rest: &str) -> String {
        let c = self.containers[index];
        let number = self.numbers.get(index).copied().unwrap_or(index + 1);
        self.table.row(number, c, &c.ship, rest)
    }

    fn print(&self, text: &str) {
        match &self.live {
            Some((multi, _)) => {
                let _ = multi.println(text);
            }
            None => {
                let _guard = self.out.lock();
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}");
                let _ = out.flush();
            }
        }
    }
}

impl Observer for PlayView<'_> {
    fn begin(&self, index: usize) {
        if let Some((multi, bars)) = &self.live {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{prefix}{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(self.line(index, ""));
            bar.enable_steady_tick(Duration::from_millis(120));
            if let Ok(mut slot) = bars[index].lock() {
                *slot = Some(bar);
            }
        }
    }

    fn progress(&self, index: usize, text: &str) {
        if let Some((_, bars)) = &self.live {
            if let Ok(slot) = bars[index].lock() {
                if let Some(bar) = slot.as_ref() {
                    bar.set_message(text.to_owned());
                }
            }
            return;
        }
        // Without a terminal, a pull is worth a sparse line at each quarter.
        if let Some(percent) = pull_percent(text) {
            let quarter = (percent / 25).min(4) as u8;
            let due = self
                .pull_quarters
                .lock()
                .map(|mut q| match q.get_mut(index) {
                    Some(last) if quarter > *last => {
                        *last = quarter;
                        true
                    }
                    _ => false,
                })
                .unwrap_or(false);
            if due {
                self.print(&self.line(index, text));
            }
        }
    }

    fn finish(&self, index: usize, outcome: &Outcome, elapsed: Duration) {
        if let Some((multi, bars)) = &self.live {
            if let Ok(mut slot) = bars[index].lock() {
                if let Some(bar) = slot.take() {
                    bar.finish_and_clear();
                    multi.remove(&bar);
                }
            }
        }
        let took = format!("{:.1}s", elapsed.as_secs_f64());
        let text = match outcome {
            Outcome::Done(done) => format!("{} ({took})", self.palette.green(&done.text)),
            Outcome::Failed(why) => {
                let why = why.to_string();
                let mut lines = why.lines();
                let first = lines.next().unwrap_or("");
                let mut text = format!("{} {first}", self.palette.red("failed:"));
                for more in lines {
                    text.push('\n');
                    text.push_str(more);
                }
                text
            }
            Outcome::Aborted { left, .. } => self.palette.yellow(&format!("aborted ({left})")),
        };
        self.print(&self.line(index, &text));
    }
}

/// The percentage of a `pulling image X 40% (…)` progress text.
fn pull_percent(text: &str) -> Option<u32> {
    let rest = text.strip_prefix("pulling image ")?;
    rest.split_whitespace()
        .find_map(|word| word.strip_suffix('%'))
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::pull_percent;

    #[test]
    fn pull_percentages_are_read_from_progress_text() {
        assert_eq!(
            pull_percent("pulling image reg:5000/a/b:1 40% (1.0 of 2.5 MB)"),
            Some(40)
        );
        assert_eq!(pull_percent("pulling image a:1"), None);
        assert_eq!(pull_percent("creating container"), None);
    }
}
