//! Byte counts of one connection.

/// Plaintext byte counts of a [`GracefulStream`](crate::GracefulStream).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    pub(crate) read: u64,
    pub(crate) written: u64,
    pub(crate) discarded: u64,
}

impl Stats {
    /// Plaintext bytes delivered to the reader.
    pub const fn read(&self) -> u64 {
        self.read
    }

    /// Plaintext bytes accepted from the writer.
    pub const fn written(&self) -> u64 {
        self.written
    }

    /// Plaintext bytes the peer sent while [`close`](crate::GracefulStream::close)
    /// waited for its close_notify, which nobody read.
    pub const fn discarded(&self) -> u64 {
        self.discarded
    }
}
