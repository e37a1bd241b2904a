//! The in-memory stream the WebSocket codec reads from and writes to: the codec wants
//! `Read + Write`, the owner of the socket hands it bytes and takes bytes.

use std::io::{self, Read, Write};

use crate::would_block;

/// Reads from a slice (then "would block"), writes into a vector.
pub(crate) struct Pipe<'a> {
    pub(crate) input: &'a [u8],
    pub(crate) output: &'a mut Vec<u8>,
}

impl Read for Pipe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(would_block());
        }
        self.input.read(buf)
    }
}

impl Write for Pipe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
