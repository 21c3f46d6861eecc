"""TCP port helpers for servers bound to the loopback interface."""

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free right now; another process may still take it before it is used."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on the port now.

    SO_REUSEADDR mirrors what servers set, so connections lingering in TIME_WAIT after a
    previous server on this port was killed do not count as "in use".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True
