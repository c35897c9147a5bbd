//! lockgate-wire
