"""The test helpers' own guarantees, which every other test here leans on: a process that died
before teardown, or exits non-zero on SIGTERM, is reported with its stderr; an origin handler's
exception is reported; a refused port stays refused."""
import signal
import socket

import pytest

from conftest import Iocore, OriginServer, wait_for


def test_a_process_that_died_before_teardown_is_reported():
    p = Iocore(["echo", "--listen", "127.0.0.1:0", "--threads", "1"])
    p.proc.send_signal(signal.SIGKILL)  # as a crash would, without the test asking for it
    p.proc.wait(10)
    problem = p.stop_and_check()
    assert problem is not None and "before the test stopped it" in problem, problem


def test_a_process_that_exits_non_zero_on_sigterm_is_reported():
    # A stand-in that prints a listening line and answers SIGTERM with exit 3, as a sanitizer
    # report at exit would.
    p = Iocore(["-c", 'trap "exit 3" TERM; echo "iocore echo listening on 127.0.0.1:1"; while :; do sleep 0.05; done'],
               command=["/bin/sh"])
    problem = p.stop_and_check()
    assert problem is not None and "exited with 3 on SIGTERM" in problem, problem


def test_an_expected_exit_is_accepted_and_any_other_reported():
    p = Iocore(["-c", 'echo "iocore echo listening on 127.0.0.1:1"; exit 1'], command=["/bin/sh"])
    p.expect_exit(1)
    p.proc.wait(10)
    assert p.stop_and_check() is None
    q = Iocore(["-c", 'echo "iocore echo listening on 127.0.0.1:1"; exit 3'], command=["/bin/sh"])
    q.expect_exit(1)
    q.proc.wait(10)
    problem = q.stop_and_check()
    assert problem is not None and "exited with 3, expected 1" in problem, problem


def test_a_clean_stop_is_not_reported():
    p = Iocore(["echo", "--listen", "127.0.0.1:0", "--threads", "1"])
    assert p.stop_and_check() is None
    assert p.proc.returncode == 0


def test_an_origin_handler_error_is_reported():
    def handler(conn):
        raise RuntimeError("the handler broke")

    o = OriginServer(handler)
    socket.create_connection(("127.0.0.1", o.port), timeout=5).close()
    wait_for(lambda: o.accepted, 10, what="the origin to accept")
    problem = o.close()
    assert problem is not None and "the handler broke" in problem, problem


def test_a_refused_port_refuses(refused_port):
    port = refused_port()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
