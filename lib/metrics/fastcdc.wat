;; FastCDC 2020 cut point (pyfastcdc 0.3.1 / fastcdc-rs v2020 rule) in WebAssembly: the 64-bit
;; gear hash is one i64 here (JavaScript has no 64-bit integer that is not a BigInt).
;; Memory: [0, 2048) gear table (256 × i64, little endian), [2048, 4096) gear << 1,
;; [4096, …) the bytes to cut (copied there by lib/metrics/fastcdc.ts).
;; Rebuild the embedded bytes after an edit: node scripts/build-fastcdc-wasm.mjs
(module
  (memory (export "memory") 1)
  (func (export "cut")
    (param $start i32) (param $end i32) (param $min i32) (param $avg i32) (param $max i32)
    (param $msl i32) (param $msh i32) (param $mll i32) (param $mlh i32)
    (result i32)
    (local $remaining i32) (local $center i32) (local $pos i32) (local $mid i32) (local $endp i32)
    (local $h i64) (local $ms i64) (local $ml i64) (local $msls i64) (local $mlls i64)
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
    (block $done1
      (loop $next1
        (br_if $done1 (i32.ge_u (local.get $pos) (local.get $mid)))
        (local.set $h (i64.add (i64.shl (local.get $h) (i64.const 2))
          (i64.load offset=2048 (i32.shl (i32.load8_u (local.get $pos)) (i32.const 3)))))
        (if (i64.eqz (i64.and (local.get $h) (local.get $msls)))
          (then (return (i32.sub (local.get $pos) (local.get $start)))))
        (local.set $h (i64.add (local.get $h)
          (i64.load (i32.shl (i32.load8_u offset=1 (local.get $pos)) (i32.const 3)))))
        (if (i64.eqz (i64.and (local.get $h) (local.get $ms)))
          (then (return (i32.sub (i32.add (local.get $pos) (i32.const 1)) (local.get $start)))))
        (local.set $pos (i32.add (local.get $pos) (i32.const 2)))
        (br $next1)))
    (block $done2
      (loop $next2
        (br_if $done2 (i32.ge_u (local.get $pos) (local.get $endp)))
        (local.set $h (i64.add (i64.shl (local.get $h) (i64.const 2))
          (i64.load offset=2048 (i32.shl (i32.load8_u (local.get $pos)) (i32.const 3)))))
        (if (i64.eqz (i64.and (local.get $h) (local.get $mlls)))
          (then (return (i32.sub (local.get $pos) (local.get $start)))))
        (local.set $h (i64.add (local.get $h)
          (i64.load (i32.shl (i32.load8_u offset=1 (local.get $pos)) (i32.const 3)))))
        (if (i64.eqz (i64.and (local.get $h) (local.get $ml)))
          (then (return (i32.sub (i32.add (local.get $pos) (i32.const 1)) (local.get $start)))))
        (local.set $pos (i32.add (local.get $pos) (i32.const 2)))
        (br $next2)))
    (local.get $remaining)))
