mod differential;
mod util;
