//! The `qrie` binary: reads its configuration from the environment like the functions do, then
//! runs [`qrie_cli::run`] on the command line.

use std::io::Write;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let deps = match qrie::handler::Deps::from_env().await {
        Ok(deps) => deps,
        Err(e) => {
            eprintln!("qrie: {e}");
            std::process::exit(qrie_cli::EXIT_ERROR);
        }
    };
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let code = qrie_cli::run(&deps, &args, &mut out, &mut err).await;
    let _ = out.flush();
    std::process::exit(code);
}
