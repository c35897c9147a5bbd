//! The test bed of the system tests: a real mosquitto on a free loopback port, a private
//! dbus-daemon serving locksim, and lockgated as a child process, each with its own temporary
//! configuration and state.
