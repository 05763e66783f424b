"""How the dialect fails: OSError(errno, "what: ENAME"), the errno mOS's
pages name; nothing exits the process (mOS called exit())."""
import errno as E


def err(code, what):
    raise OSError(code, "%s: %s" % (what, E.errorcode.get(code, code)))
