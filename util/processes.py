"""Child processes a program started and must not leave behind."""
import subprocess


def stop(process, grace):
    """Stop `process` if it still runs: terminate it, and kill it if it has not ended `grace`
    seconds later."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
