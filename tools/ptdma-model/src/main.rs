//! `ptdma-model` binary: see `ptdma_model::cli` for the command line.

fn main() {
    std::process::exit(ptdma_model::cli::main());
}
