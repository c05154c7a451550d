fn main() -> std::process::ExitCode {
    cnb_artifacts::cli::main()
}
