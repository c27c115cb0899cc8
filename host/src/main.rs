fn main() {
    std::process::exit(pam_aws_host::cli::main())
}
