//! lockgate-e2e
