fn main() -> std::process::ExitCode {
    provision::cli::main()
}
