// mimalloc for the host's own allocations (hyper, tokio, wasmtime's
// bookkeeping, the memory store): measured 5-6 % less server CPU per grant
// than glibc's malloc under `pam-aws serve`, and no slower for a CLI call
// once its transparent huge pages are off (with them, page-fault stalls of
// tens of ms hit short CLI runs). README, Performance.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(pam_aws_host::cli::main())
}
