//! Nepxion Discovery rule import.
