#ifndef MOAT_CLONED_H
#define MOAT_CLONED_H

/*
 * CVE-2019-5736: a container process can reach the binary of a runtime process that enters it
 * (/proc/<pid>/exe of a `moat exec`-ed process before its execve, or a "#!/proc/self/exe"
 * command the executor execs), and reopen it for writing once nothing runs it. So the executor
 * first re-executes itself from a sealed memfd copy: /proc/<pid>/exe then names an anonymous,
 * write-sealed file, never build/native/moat-exec. Returns only when already running from such
 * a copy (0), or on failure (-1, errno set).
 */
int cloned_binary_ensure(char **argv);

#endif
