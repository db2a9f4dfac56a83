// Linux x86_64 errno numbers (asm-generic/errno-base.h, errno.h), as the application sees them.
// Syscall handlers return -E… for errors.

export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EINTR = 4;
export const EIO = 5;
export const ENXIO = 6;
export const E2BIG = 7;
export const ENOEXEC = 8;
export const EBADF = 9;
export const ECHILD = 10;
export const EAGAIN = 11;
export const EWOULDBLOCK = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const EXDEV = 18;
export const ENODEV = 19;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const EINVAL = 22;
export const ENFILE = 23;
export const EMFILE = 24;
export const ENOTTY = 25;
export const ETXTBSY = 26;
export const EFBIG = 27;
export const ENOSPC = 28;
export const ESPIPE = 29;
export const EROFS = 30;
export const EMLINK = 31;
export const EPIPE = 32;
export const EDOM = 33;
export const ERANGE = 34;
export const EDEADLK = 35;
export const ENAMETOOLONG = 36;
export const ENOLCK = 37;
export const ENOSYS = 38;
export const ENOTEMPTY = 39;
export const ELOOP = 40;
export const ELIBBAD = 80;
export const ENOMSG = 42;
export const EIDRM = 43;
export const ENOSTR = 60;
export const ENODATA = 61;
export const ETIME = 62;
export const ENOSR = 63;
export const ENOLINK = 67;
export const EPROTO = 71;
export const EMULTIHOP = 72;
export const EBADMSG = 74;
export const EOVERFLOW = 75;
export const EILSEQ = 84;
export const ENOTSOCK = 88;
export const EDESTADDRREQ = 89;
export const EMSGSIZE = 90;
export const EPROTOTYPE = 91;
export const ENOPROTOOPT = 92;
export const EPROTONOSUPPORT = 93;
export const ESOCKTNOSUPPORT = 94;
export const ENOTSUP = 95;
export const EOPNOTSUPP = 95;
export const EPFNOSUPPORT = 96;
export const EAFNOSUPPORT = 97;
export const EADDRINUSE = 98;
export const EADDRNOTAVAIL = 99;
export const ENETDOWN = 100;
export const ENETUNREACH = 101;
export const ENETRESET = 102;
export const ECONNABORTED = 103;
export const ECONNRESET = 104;
export const ENOBUFS = 105;
export const EISCONN = 106;
export const ENOTCONN = 107;
export const ETOOMANYREFS = 109;
export const ETIMEDOUT = 110;
export const ECONNREFUSED = 111;
export const EHOSTUNREACH = 113;
export const EALREADY = 114;
export const EINPROGRESS = 115;
export const ESTALE = 116;
export const EDQUOT = 122;
export const ECANCELED = 125;

// Kernel-internal restart codes (never seen by the application).
export const ERESTARTSYS = 512;
export const ERESTARTNOINTR = 513;
export const ERESTARTNOHAND = 514;
export const ERESTART_RESTARTBLOCK = 516;

const NAMES: Record<number, string> = {
  7: "E2BIG",
  13: "EACCES",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  97: "EAFNOSUPPORT",
  11: "EAGAIN",
  114: "EALREADY",
  9: "EBADF",
  74: "EBADMSG",
  16: "EBUSY",
  125: "ECANCELED",
  10: "ECHILD",
  103: "ECONNABORTED",
  111: "ECONNREFUSED",
  104: "ECONNRESET",
  35: "EDEADLK",
  89: "EDESTADDRREQ",
  33: "EDOM",
  122: "EDQUOT",
  17: "EEXIST",
  14: "EFAULT",
  27: "EFBIG",
  113: "EHOSTUNREACH",
  43: "EIDRM",
  84: "EILSEQ",
  115: "EINPROGRESS",
  4: "EINTR",
  22: "EINVAL",
  5: "EIO",
  106: "EISCONN",
  21: "EISDIR",
  40: "ELOOP",
  80: "ELIBBAD",
  24: "EMFILE",
  31: "EMLINK",
  90: "EMSGSIZE",
  72: "EMULTIHOP",
  36: "ENAMETOOLONG",
  100: "ENETDOWN",
  102: "ENETRESET",
  101: "ENETUNREACH",
  23: "ENFILE",
  105: "ENOBUFS",
  61: "ENODATA",
  19: "ENODEV",
  2: "ENOENT",
  8: "ENOEXEC",
  37: "ENOLCK",
  67: "ENOLINK",
  12: "ENOMEM",
  42: "ENOMSG",
  92: "ENOPROTOOPT",
  28: "ENOSPC",
  63: "ENOSR",
  60: "ENOSTR",
  38: "ENOSYS",
  107: "ENOTCONN",
  20: "ENOTDIR",
  39: "ENOTEMPTY",
  88: "ENOTSOCK",
  94: "ESOCKTNOSUPPORT",
  95: "EOPNOTSUPP",
  96: "EPFNOSUPPORT",
  109: "ETOOMANYREFS",
  25: "ENOTTY",
  6: "ENXIO",
  75: "EOVERFLOW",
  1: "EPERM",
  32: "EPIPE",
  71: "EPROTO",
  93: "EPROTONOSUPPORT",
  91: "EPROTOTYPE",
  34: "ERANGE",
  30: "EROFS",
  29: "ESPIPE",
  3: "ESRCH",
  116: "ESTALE",
  62: "ETIME",
  110: "ETIMEDOUT",
  26: "ETXTBSY",
  18: "EXDEV",
};

/** The errno name of a negative syscall result (-2 → "ENOENT"). */
export function errnoName(neg: number): string {
  return NAMES[-neg] ?? `E${-neg}`;
}
