mod catalog;
mod cli;
mod differential;
mod util;
