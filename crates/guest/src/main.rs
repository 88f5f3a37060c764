//! `maestro-guest`: the guest functions for shell entrypoints. See
//! `maestro-guest --help`.

fn main() {
    std::process::exit(maestro_guest::cli::main());
}
