;; FastCDC 2020 cut point (pyfastcdc 0.3.1 / fastcdc-rs v2020 rule) in WebAssembly: the 64-bit
;; gear hash is one i64 here (JavaScript has no 64-bit integer that is not a BigInt).
;; Memory: [0, 2048) gear table (256 × i64, little endian), [2048, 4096) gear << 1,
;; [4096, 4096 + 4·cap) chunk lengths written by `cuts`, then the bytes to cut (copied there by
;; lib/metrics/fastcdc.ts; addresses are passed in).
;; Rebuild the embedded bytes after an edit: node scripts/build-fastcdc-wasm.mjs
(module
  (memory (export "memory") 1)
  (func $cut (export "cut")
    (param $start i32) (param $end i32) (param $min i32) (param $avg i32) (param $max i32)
    (param $msl i32) (param $msh i32) (param $mll i32) (param $mlh i32)
    (result i32)
    (local $remaining i32) (local $center i32) (local $pos i32) (local $mid i32) (local $endp i32)
    (local $w i32) (local $h i64) (local $ms i64) (local $ml i64) (local $msls i64) (local $mlls i64)
    (local.set $remaining (i32.sub (local.get $end) (local.get $start)))
    (if (i32.le_u (local.get $remaining) (local.get $min)) (then (return (local.get $remaining))))
    (local.set $center (local.get $avg))
    (if (i32.gt_u (local.get $remaining) (local.get $max))
      (then (local.set $remaining (local.get $max)))
      (else (if (i32.lt_u (local.get $remaining) (local.get $center))
        (then (local.set $center (local.get $remaining))))))
    (local.set $ms (i64.or (i64.extend_i32_u (local.get $msl)) (i64.shl (i64.extend_i32_u (local.get $msh)) (i64.const 32))))
    (local.set $ml (i64.or (i64.extend_i32_u (local.get $mll)) (i64.shl (i64.extend_i32_u (local.get $mlh)) (i64.const 32))))
    (local.set $msls (i64.shl (local.get $ms) (i64.const 1)))
    (local.set $mlls (i64.shl (local.get $ml) (i64.const 1)))
    (local.set $pos (i32.add (local.get $start) (i32.and (local.get $min) (i32.const -2))))
    (local.set $mid (i32.add (local.get $start) (i32.and (local.get $center) (i32.const -2))))
    (local.set $endp (i32.add (local.get $start) (i32.and (local.get $remaining) (i32.const -2))))
    (if (i32.lt_u (local.get $pos) (local.get $mid))
      (then
        (loop $next1
          ;; two bytes with one load: b0 = low byte, b1 = high byte (little endian)
          (local.set $w (i32.load16_u (local.get $pos)))
          (local.set $h (i64.add (i64.shl (local.get $h) (i64.const 2))
            (i64.load offset=2048 (i32.and (i32.shl (local.get $w) (i32.const 3)) (i32.const 2040)))))
          (if (i64.eqz (i64.and (local.get $h) (local.get $msls)))
            (then (return (i32.sub (local.get $pos) (local.get $start)))))
          (local.set $h (i64.add (local.get $h)
            (i64.load (i32.and (i32.shr_u (local.get $w) (i32.const 5)) (i32.const 2040)))))
          (if (i64.eqz (i64.and (local.get $h) (local.get $ms)))
            (then (return (i32.sub (i32.add (local.get $pos) (i32.const 1)) (local.get $start)))))
          (local.set $pos (i32.add (local.get $pos) (i32.const 2)))
          (br_if $next1 (i32.lt_u (local.get $pos) (local.get $mid))))))
    (if (i32.lt_u (local.get $pos) (local.get $endp))
      (then
        (loop $next2
          ;; two bytes with one load: b0 = low byte, b1 = high byte (little endian)
          (local.set $w (i32.load16_u (local.get $pos)))
          (local.set $h (i64.add (i64.shl (local.get $h) (i64.const 2))
            (i64.load offset=2048 (i32.and (i32.shl (local.get $w) (i32.const 3)) (i32.const 2040)))))
          (if (i64.eqz (i64.and (local.get $h) (local.get $mlls)))
            (then (return (i32.sub (local.get $pos) (local.get $start)))))
          (local.set $h (i64.add (local.get $h)
            (i64.load (i32.and (i32.shr_u (local.get $w) (i32.const 5)) (i32.const 2040)))))
          (if (i64.eqz (i64.and (local.get $h) (local.get $ml)))
            (then (return (i32.sub (i32.add (local.get $pos) (i32.const 1)) (local.get $start)))))
          (local.set $pos (i32.add (local.get $pos) (i32.const 2)))
          (br_if $next2 (i32.lt_u (local.get $pos) (local.get $endp))))))
    (local.get $remaining))
  ;; Every chunk of [start, end) in one call: lengths go to out[0..count), count is returned.
  ;; Stops early when `cap` lengths are written, or (final = 0) when fewer than `max` bytes remain
  ;; (the caller copies the next window first: a cut never looks past `max` bytes).
  (func (export "cuts")
    (param $start i32) (param $end i32) (param $min i32) (param $avg i32) (param $max i32)
    (param $msl i32) (param $msh i32) (param $mll i32) (param $mlh i32)
    (param $out i32) (param $cap i32) (param $final i32)
    (result i32)
    (local $pos i32) (local $count i32) (local $n i32)
    (local.set $pos (local.get $start))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $pos) (local.get $end)))
        (br_if $done (i32.ge_u (local.get $count) (local.get $cap)))
        (br_if $done (i32.and (i32.eqz (local.get $final))
          (i32.lt_u (i32.sub (local.get $end) (local.get $pos)) (local.get $max))))
        (local.set $n (call $cut (local.get $pos) (local.get $end) (local.get $min) (local.get $avg) (local.get $max)
          (local.get $msl) (local.get $msh) (local.get $mll) (local.get $mlh)))
        (i32.store (i32.add (local.get $out) (i32.shl (local.get $count) (i32.const 2))) (local.get $n))
        (local.set $pos (i32.add (local.get $pos) (local.get $n)))
        (local.set $count (i32.add (local.get $count) (i32.const 1)))
        (br $next)))
    (local.get $count)))
