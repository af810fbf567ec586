fn main() -> std::process::ExitCode {
    camwatch::cli::run()
}
