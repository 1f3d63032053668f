// Secrets never appear in logs, errors or records: every place that prints a target goes through here.

/** A connection URL with its password (and user-info secrets in query strings) replaced. */
export function redactUrl(url: string): string {
    try {
        const u = new URL(url);
        if (u.password) u.password = "***";
        for (const k of [...u.searchParams.keys()]) {
            if (/pass|secret|token|key|sig/i.test(k)) u.searchParams.set(k, "***");
        }
        return u.toString();
    } catch {
        // Not a URL (a libpq keyword string?): blank anything after password=.
        return url.replace(/(password\s*=\s*)('[^']*'|\S+)/gi, "$1***");
    }
}

/**
 * Remove every known secret value from a message, wherever it appears (error texts from drivers may
 * echo a connection string). Values shorter than 4 characters are not scrubbed (too many false hits).
 */
export function scrub(message: string, secrets: Iterable<string | undefined>): string {
    let out = message;
    for (const s of secrets) {
        if (!s || s.length < 4) continue;
        out = out.split(s).join("***");
        try {
            const u = new URL(s);
            if (u.password && u.password.length >= 4) out = out.split(decodeURIComponent(u.password)).join("***").split(u.password).join("***");
        } catch {
            /* not a URL */
        }
    }
    return out.replace(/(postgres(?:ql)?:\/\/[^:/@\s]+:)[^@\s]+@/g, "$1***@");
}
