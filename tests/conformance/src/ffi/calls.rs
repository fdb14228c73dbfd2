//! One `extern "C"` function per `struct packetdrill_interface` member. Safety contract of all
//! of them: packetdrill passes the `userdata` it got from init and pointers valid for the sizes
//! it passes alongside, as the corresponding libc call requires of its caller.

use super::{entry, iovecs, len_to_isize, read_addr, write_addr, write_out, Instance, Interface};
use crate::shim::Shim;
use libc::{c_char, c_int, c_long, c_void, size_t, socklen_t, ssize_t};
use std::ffi::CStr;
use std::panic::catch_unwind;
use std::sync::{Condvar, Mutex};

/// Fills `ifc` with the shim's functions and a fresh stack configured from `flags`
/// (`--so_flags`). On bad flags it prints why and leaves `userdata` null, so every call
/// fails with EINVAL instead of crashing.
///
/// # Safety
/// `flags` is null or a NUL-terminated string; `ifc` points to a writable interface struct.
#[no_mangle]
pub unsafe extern "C" fn packetdrill_interface_init(flags: *const c_char, ifc: *mut Interface) {
    if ifc.is_null() {
        return;
    }
    let flags = if flags.is_null() {
        String::new()
    } else {
        // SAFETY: NUL-terminated per the contract.
        unsafe { CStr::from_ptr(flags) }
            .to_string_lossy()
            .into_owned()
    };
    let made = catch_unwind(|| crate::flags::parse(&flags).and_then(Shim::new));
    let userdata = match made {
        Ok(Ok(shim)) => Box::into_raw(Box::new(Instance {
            shim: Mutex::new(shim),
            moved: Condvar::new(),
        })) as *mut c_void,
        Ok(Err(e)) => {
            eprintln!("ustack shim: {e}");
            std::ptr::null_mut()
        }
        Err(_) => std::ptr::null_mut(),
    };
    let table = Interface {
        userdata,
        free: Some(free),
        socket: Some(socket),
        bind: Some(bind),
        listen: Some(listen),
        accept: Some(accept),
        connect: Some(connect),
        read: Some(read),
        readv: Some(readv),
        recv: Some(recv),
        recvfrom: Some(recvfrom),
        recvmsg: Some(recvmsg),
        write: Some(write),
        writev: Some(writev),
        send: Some(send),
        sendto: Some(sendto),
        sendmsg: Some(sendmsg),
        fcntl: Some(fcntl),
        ioctl: Some(ioctl),
        close: Some(close),
        shutdown: Some(shutdown),
        getsockopt: Some(getsockopt),
        setsockopt: Some(setsockopt),
        poll: Some(poll),
        netdev_send: Some(netdev_send),
        netdev_receive: Some(netdev_receive),
        usleep: Some(usleep),
        gettimeofday: Some(gettimeofday),
        epoll_create: Some(epoll_create),
        epoll_ctl: Some(epoll_ctl),
        epoll_wait: Some(epoll_wait),
        pipe: Some(pipe),
        splice: Some(splice),
    };
    // SAFETY: `ifc` is writable per the contract.
    unsafe { std::ptr::write(ifc, table) };
}

unsafe extern "C" fn free(ud: *mut c_void) {
    if ud.is_null() {
        return;
    }
    // SAFETY: `ud` came from Box::into_raw in init and packetdrill frees it once.
    let inst = unsafe { Box::from_raw(ud as *mut Instance) };
    let _ = catch_unwind(std::panic::AssertUnwindSafe(move || drop(inst)));
}

unsafe extern "C" fn socket(ud: *mut c_void, domain: c_int, ty: c_int, proto: c_int) -> c_int {
    entry(ud, |i| i.lock().socket(domain, ty, proto))
}

unsafe extern "C" fn bind(
    ud: *mut c_void,
    fd: c_int,
    addr: *const libc::sockaddr,
    len: socklen_t,
) -> c_int {
    entry(ud, |i| {
        // SAFETY: forwarded caller contract.
        let a = unsafe { read_addr(addr, len) }?;
        i.lock().bind(fd, a).map(|()| 0)
    })
}

unsafe extern "C" fn listen(ud: *mut c_void, fd: c_int, backlog: c_int) -> c_int {
    entry(ud, |i| i.lock().listen(fd, backlog).map(|()| 0))
}

unsafe extern "C" fn accept(
    ud: *mut c_void,
    fd: c_int,
    addr: *mut libc::sockaddr,
    len: *mut socklen_t,
) -> c_int {
    entry(ud, |i| {
        let (new, peer) = i.blocking(fd, false, |s| s.accept(fd))?;
        // SAFETY: forwarded caller contract.
        unsafe { write_addr(addr, len, peer) };
        Ok(new)
    })
}

unsafe extern "C" fn connect(
    ud: *mut c_void,
    fd: c_int,
    addr: *const libc::sockaddr,
    len: socklen_t,
) -> c_int {
    entry(ud, |i| {
        // SAFETY: forwarded caller contract.
        let a = unsafe { read_addr(addr, len) }?;
        let r = i.lock().connect(fd, a);
        match r {
            Err(libc::EINPROGRESS) if i.lock().blocking(fd) => {
                // A blocking connect returns when the handshake ends, either way.
                i.blocking(fd, false, |s| match s.connect(fd, a) {
                    Err(libc::EALREADY) => Err(libc::EAGAIN),
                    r => r,
                })
                .map(|()| 0)
            }
            r => r.map(|()| 0),
        }
    })
}

fn recv_flags(flags: c_int) -> Result<(bool, bool), i32> {
    let known = libc::MSG_PEEK | libc::MSG_DONTWAIT | libc::MSG_WAITALL | libc::MSG_NOSIGNAL;
    if flags & !known != 0 {
        return Err(libc::EOPNOTSUPP);
    }
    Ok((flags & libc::MSG_PEEK != 0, flags & libc::MSG_DONTWAIT != 0))
}

/// Receives into a caller buffer.
fn recv_into(i: &Instance, fd: c_int, buf: &mut [u8], flags: c_int) -> Result<ssize_t, i32> {
    let (peek, dontwait) = recv_flags(flags)?;
    i.blocking(fd, dontwait, |s| s.recv(fd, buf, peek))
        .map(len_to_isize)
}

/// Sends a whole buffer: a blocking send waits until all of it is queued (Linux), a
/// non-blocking one returns what fitted.
fn send_from(i: &Instance, fd: c_int, data: &[u8], flags: c_int) -> Result<ssize_t, i32> {
    let known = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL | libc::MSG_MORE | libc::MSG_EOR;
    if flags & !known != 0 {
        return Err(libc::EOPNOTSUPP);
    }
    let dontwait = flags & libc::MSG_DONTWAIT != 0;
    let mut done = 0;
    while done < data.len() || data.is_empty() {
        match i.blocking(fd, dontwait, |s| s.send(fd, &data[done..])) {
            Ok(n) => done += n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
        if data.is_empty() || !i.lock().blocking(fd) || dontwait {
            break;
        }
    }
    Ok(len_to_isize(done))
}

/// A mutable byte slice from C, empty when `len` is 0.
///
/// # Safety
/// `buf` must point to `len` writable bytes when `len > 0`.
unsafe fn slice_mut<'a>(buf: *mut c_void, len: size_t) -> Result<&'a mut [u8], i32> {
    if len == 0 {
        return Ok(&mut []);
    }
    if buf.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: per the contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(buf as *mut u8, len) })
}

/// # Safety
/// `buf` must point to `len` readable bytes when `len > 0`.
unsafe fn slice<'a>(buf: *const c_void, len: size_t) -> Result<&'a [u8], i32> {
    if len == 0 {
        return Ok(&[]);
    }
    if buf.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: per the contract.
    Ok(unsafe { std::slice::from_raw_parts(buf as *const u8, len) })
}

unsafe extern "C" fn read(ud: *mut c_void, fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    // SAFETY: forwarded caller contract.
    entry(ud, |i| recv_into(i, fd, unsafe { slice_mut(buf, n) }?, 0))
}

unsafe extern "C" fn recv(
    ud: *mut c_void,
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
) -> ssize_t {
    // SAFETY: forwarded caller contract.
    entry(ud, |i| {
        recv_into(i, fd, unsafe { slice_mut(buf, n) }?, flags)
    })
}

unsafe extern "C" fn recvfrom(
    ud: *mut c_void,
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    _addr: *mut libc::sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    entry(ud, |i| {
        // SAFETY: forwarded caller contract.
        let r = recv_into(i, fd, unsafe { slice_mut(buf, n) }?, flags)?;
        if !addrlen.is_null() {
            // SAFETY: a TCP socket reports no source address (length 0), as Linux.
            unsafe { *addrlen = 0 };
        }
        Ok(r)
    })
}

/// Scatters received bytes over `iov`.
///
/// # Safety
/// `iov` must hold `cnt` iovecs, each pointing to `iov_len` writable bytes.
unsafe fn readv_into(
    i: &Instance,
    fd: c_int,
    iov: *const libc::iovec,
    cnt: c_int,
    flags: c_int,
) -> Result<ssize_t, i32> {
    // SAFETY: per the contract.
    let iov = unsafe { iovecs(iov, cnt) }?;
    let total: usize = iov.iter().map(|v| v.iov_len).sum();
    let mut tmp = vec![0u8; total];
    let n = recv_into(i, fd, &mut tmp, flags)? as usize;
    let mut at = 0;
    for v in iov {
        let k = v.iov_len.min(n - at);
        // SAFETY: each iovec is writable for iov_len bytes per the contract.
        unsafe { slice_mut(v.iov_base, k) }?.copy_from_slice(&tmp[at..at + k]);
        at += k;
    }
    Ok(len_to_isize(n))
}

/// Gathers `iov` into one buffer.
///
/// # Safety
/// `iov` must hold `cnt` iovecs, each pointing to `iov_len` readable bytes.
unsafe fn gather(iov: *const libc::iovec, cnt: c_int) -> Result<Vec<u8>, i32> {
    let mut data = Vec::new();
    // SAFETY: per the contract.
    for v in unsafe { iovecs(iov, cnt) }? {
        // SAFETY: per the contract.
        data.extend_from_slice(unsafe { slice(v.iov_base, v.iov_len) }?);
    }
    Ok(data)
}

unsafe extern "C" fn readv(
    ud: *mut c_void,
    fd: c_int,
    iov: *const libc::iovec,
    cnt: c_int,
) -> ssize_t {
    // SAFETY: forwarded caller contract.
    entry(ud, |i| unsafe { readv_into(i, fd, iov, cnt, 0) })
}

unsafe extern "C" fn recvmsg(
    ud: *mut c_void,
    fd: c_int,
    msg: *mut libc::msghdr,
    flags: c_int,
) -> ssize_t {
    entry(ud, |i| {
        if msg.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: `msg` is a valid msghdr per the contract.
        let m = unsafe { &mut *msg };
        // SAFETY: its iovecs are valid per the contract.
        let n = unsafe { readv_into(i, fd, m.msg_iov, m.msg_iovlen as c_int, flags) }?;
        m.msg_controllen = 0;
        m.msg_namelen = 0;
        m.msg_flags = 0;
        Ok(n)
    })
}

unsafe extern "C" fn write(ud: *mut c_void, fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    // SAFETY: forwarded caller contract.
    entry(ud, |i| send_from(i, fd, unsafe { slice(buf, n) }?, 0))
}

unsafe extern "C" fn send(
    ud: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
) -> ssize_t {
    // SAFETY: forwarded caller contract.
    entry(ud, |i| send_from(i, fd, unsafe { slice(buf, n) }?, flags))
}

unsafe extern "C" fn sendto(
    ud: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    addr: *const libc::sockaddr,
    _len: socklen_t,
) -> ssize_t {
    entry(ud, |i| {
        // SAFETY: forwarded caller contract.
        let data = unsafe { slice(buf, n) }?;
        if flags & libc::MSG_FASTOPEN != 0 {
            // TCP Fast Open (RFC 7413) is not in ustack.
            return Err(libc::EOPNOTSUPP);
        }
        // Like Linux, a TCP socket ignores the address otherwise (it is connected or not).
        let _ = addr;
        send_from(i, fd, data, flags & !libc::MSG_FASTOPEN)
    })
}

unsafe extern "C" fn writev(
    ud: *mut c_void,
    fd: c_int,
    iov: *const libc::iovec,
    cnt: c_int,
) -> ssize_t {
    // SAFETY: forwarded caller contract.
    entry(ud, |i| send_from(i, fd, &unsafe { gather(iov, cnt) }?, 0))
}

unsafe extern "C" fn sendmsg(
    ud: *mut c_void,
    fd: c_int,
    msg: *const libc::msghdr,
    flags: c_int,
) -> ssize_t {
    entry(ud, |i| {
        if msg.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: `msg` is a valid msghdr per the contract.
        let m = unsafe { &*msg };
        if m.msg_controllen != 0 || !m.msg_name.is_null() {
            return Err(libc::EOPNOTSUPP);
        }
        // SAFETY: its iovecs are valid per the contract.
        let data = unsafe { gather(m.msg_iov, m.msg_iovlen as c_int) }?;
        send_from(i, fd, &data, flags)
    })
}

unsafe extern "C" fn fcntl(ud: *mut c_void, fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    entry(ud, |i| i.lock().fcntl(fd, cmd, arg))
}

unsafe extern "C" fn ioctl(ud: *mut c_void, _fd: c_int, _req: libc::c_ulong, _a: c_long) -> c_int {
    entry(ud, |_| Err(libc::EOPNOTSUPP))
}

unsafe extern "C" fn close(ud: *mut c_void, fd: c_int) -> c_int {
    entry(ud, |i| i.lock().close(fd).map(|()| 0))
}

unsafe extern "C" fn shutdown(ud: *mut c_void, fd: c_int, how: c_int) -> c_int {
    entry(ud, |i| i.lock().shutdown(fd, how).map(|()| 0))
}

unsafe extern "C" fn getsockopt(
    ud: *mut c_void,
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    entry(ud, |i| {
        let v = i.lock().getsockopt(fd, level, name)?;
        // SAFETY: forwarded caller contract.
        unsafe { write_out(val, len, &v) };
        Ok(0)
    })
}

unsafe extern "C" fn setsockopt(
    ud: *mut c_void,
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    entry(ud, |i| {
        // SAFETY: forwarded caller contract.
        let v = unsafe { slice(val, len as usize) }?;
        i.lock().setsockopt(fd, level, name, v).map(|()| 0)
    })
}

unsafe extern "C" fn poll(
    ud: *mut c_void,
    fds: *mut libc::pollfd,
    n: libc::nfds_t,
    timeout_ms: c_int,
) -> c_int {
    entry(ud, |i| {
        let n = usize::try_from(n).map_err(|_| libc::EINVAL)?;
        let fds: &mut [libc::pollfd] = if n == 0 {
            &mut []
        } else if fds.is_null() {
            return Err(libc::EFAULT);
        } else {
            // SAFETY: `fds` holds `n` pollfds per the contract.
            unsafe { std::slice::from_raw_parts_mut(fds, n) }
        };
        super::poll::run(i, fds, timeout_ms)
    })
}

unsafe extern "C" fn netdev_send(ud: *mut c_void, buf: *const c_void, n: size_t) -> c_int {
    entry(ud, |i| {
        // SAFETY: forwarded caller contract.
        let p = unsafe { slice(buf, n) }?;
        i.lock().inject(p);
        i.moved.notify_all();
        Ok(0)
    })
}

unsafe extern "C" fn netdev_receive(
    ud: *mut c_void,
    buf: *mut c_void,
    count: *mut size_t,
    time_usecs: *mut libc::c_longlong,
) -> c_int {
    entry(ud, |i| {
        if count.is_null() || time_usecs.is_null() {
            return Err(libc::EFAULT);
        }
        let next = i.lock().next_outbound();
        i.moved.notify_all();
        // SAFETY: `count` is valid per the contract.
        let room = unsafe { *count };
        let Some((packet, at)) = next else {
            // SAFETY: as above.
            unsafe { *count = 0 };
            return Err(libc::EAGAIN);
        };
        // SAFETY: `buf` has `room` writable bytes per the contract.
        let out = unsafe { slice_mut(buf, room) }?;
        let k = packet.len().min(out.len());
        out[..k].copy_from_slice(&packet[..k]);
        let us = crate::shim::EPOCH_SECS * 1_000_000 + at.total_micros();
        // SAFETY: both pointers valid per the contract.
        unsafe {
            *count = k;
            *time_usecs = us as libc::c_longlong;
        }
        Ok(0)
    })
}

unsafe extern "C" fn usleep(ud: *mut c_void, us: libc::useconds_t) -> c_int {
    entry(ud, |i| {
        i.lock().advance(u64::from(us));
        i.moved.notify_all();
        Ok(0)
    })
}

unsafe extern "C" fn gettimeofday(
    ud: *mut c_void,
    tv: *mut libc::timeval,
    _tz: *mut c_void,
) -> c_int {
    entry(ud, |i| {
        let (sec, usec) = {
            let mut s = i.lock();
            // Move 1 µs per call so packetdrill's spin-wait reaches its deadline (README).
            s.advance(1);
            s.timeval()
        };
        i.moved.notify_all();
        if tv.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: `tv` is writable per the contract.
        unsafe {
            (*tv).tv_sec = sec as libc::time_t;
            (*tv).tv_usec = usec as libc::suseconds_t;
        }
        Ok(0)
    })
}

unsafe extern "C" fn epoll_create(ud: *mut c_void, _size: c_int) -> c_int {
    entry(ud, |_| Err(libc::EOPNOTSUPP))
}

unsafe extern "C" fn epoll_ctl(
    ud: *mut c_void,
    _epfd: c_int,
    _op: c_int,
    _fd: c_int,
    _ev: *mut libc::epoll_event,
) -> c_int {
    entry(ud, |_| Err(libc::EOPNOTSUPP))
}

unsafe extern "C" fn epoll_wait(
    ud: *mut c_void,
    _epfd: c_int,
    _ev: *mut libc::epoll_event,
    _max: c_int,
    _timeout: c_int,
) -> c_int {
    entry(ud, |_| Err(libc::EOPNOTSUPP))
}

unsafe extern "C" fn pipe(ud: *mut c_void, _fds: *mut c_int) -> c_int {
    entry(ud, |_| Err(libc::EOPNOTSUPP))
}

unsafe extern "C" fn splice(
    ud: *mut c_void,
    _fd_in: c_int,
    _off_in: *mut libc::loff_t,
    _fd_out: c_int,
    _off_out: *mut libc::loff_t,
    _len: size_t,
    _flags: libc::c_uint,
) -> ssize_t {
    entry(ud, |_| Err(libc::EOPNOTSUPP))
}
