"""Live Update: a worker thread that trains on the labels and predicts the view, newest request first.

A newer stroke or view change bumps a generation counter; work for an older generation
stops at its next check and nothing stale is drawn. Longer jobs started from the panel (Suggest)
run on the same thread between updates, so the kernel stays free and the engine has one user.
"""
from __future__ import annotations

import threading
import time

import numpy as np

PREVIEW_TREES = 20  # drawn first when the whole update is slow
# the last update, less any preview, took longer than this from stroke to complete overlay: show a
# preview first (something on screen by ~0.2 s). Below it, the whole forest is on screen within the
# 0.3 s a person waits for, and a preview would only delay it: its pieces are gathered and drawn
# twice (at 27k labels on 1024², 0.2 s here cost 40 ms a stroke; benchmarks/RESULTS.md)
PREVIEW_AFTER_S = 0.3
DRAW_EVERY_S = 0.25  # a large view fills in on the canvas at this pace


class LiveUpdater:
    """Runs ``app``'s updates on a daemon thread and reports timings, status and progress."""

    def __init__(self, app):
        self.app = app
        self.cv = threading.Condition()
        self.gen = 0
        self.pending = self.busy = self.closed = self.force = False
        self.jobs = []  # (job, on_error) run between updates
        self.stroke_t = self.request_t = self.asked_t = time.perf_counter()
        self.trained_version = None  # project.version the forest was trained at
        self.last_train_s = 0.0
        self.last_update_s = 0.0  # stroke -> complete overlay of the last retraining, less its preview
        self._t0, self._first = self.stroke_t, None
        self.thread = threading.Thread(target=self._loop, name="pixclass-live-update", daemon=True)
        self.thread.start()

    # ----------------------------------------------------------------- requests
    def request(self, force=False):
        """Retrain and repredict (skipped while Live Update is off unless ``force``)."""
        if not (self.app.live_update or force):
            return
        with self.cv:
            self.asked_t = time.perf_counter()  # a retraining asked for: a stroke, Live Update switched on, Apply
            self.force = self.force or force
            self._bump()

    def request_view(self):
        """Fill the new view in the background (nothing to do without a forest or Live Update)."""
        if self.app.project.forest is not None or self.app.live_update:
            with self.cv:
                self._bump()

    def _bump(self):
        self.gen += 1
        self.request_t = time.perf_counter()
        self.pending = True
        self.app.overlay_stale = self.app.project.forest is not None or self.app.live_update
        self.cv.notify_all()

    def labels_edited(self):
        """A stroke changed the labels: retrain from now."""
        self.stroke_t = time.perf_counter()
        self.request()

    def run(self, job, on_error):
        """Run ``job()`` on the worker after the current update; ``on_error(exc)`` if it raises."""
        with self.cv:
            self.jobs.append((job, on_error))
            self.cv.notify_all()

    def wait_idle(self, timeout=30):
        """Block until no update or job is pending or running (TimeoutError after ``timeout`` s)."""
        with self.cv:
            ok = self.cv.wait_for(lambda: not self.pending and not self.busy and not self.jobs, timeout)
        if not ok:
            raise TimeoutError(f"live update still running after {timeout} s")

    def close(self):
        """Stop the worker thread after what it is doing."""
        with self.cv:
            self.closed = True
            self.cv.notify_all()

    def current(self, gen):
        """Whether work of generation ``gen`` is still wanted."""
        return gen == self.gen and not self.closed

    # ----------------------------------------------------------------- worker
    def _warm_up(self):
        """Load the compiled kernels (numba's disk cache) before the first stroke needs them."""
        from ..features.compute import compute_features
        from ..forest.train import train_forest

        img = self.app.project.images[0]
        tiny = np.zeros((8,) * (img.ndim_spatial - 1) + (24, 24, img.n_channels), np.float32)
        try:
            compute_features(tiny, self.app.project.features)
            X = np.random.default_rng(0).random((64, 4), np.float32)
            forest, _ = train_forest(X, np.arange(64) % 2 + 1, 2)
            forest.predict_proba_fm(np.ascontiguousarray(X.T), np.arange(8))
            forest.predict_proba_fm(np.ascontiguousarray(X.T))
        except Exception:  # only a warm-up: the real call reports any problem
            pass

    def _loop(self):
        self._warm_up()
        while True:
            with self.cv:
                self.cv.wait_for(lambda: self.pending or self.jobs or self.closed)
                if self.closed:
                    return
                self.busy = True
                job = self.jobs.pop(0) if self.jobs and not self.pending else None  # strokes first
                if job is None:
                    self.pending = False
                gen, t_req = self.gen, self.request_t
            try:
                if job is not None:
                    self._run_job(*job)
                else:
                    self._update(gen, t_req)
            except ValueError as e:  # e.g. only one class labeled yet: tell the user, keep running
                self._report(f"waiting: {e}", "waiting for labels", 0.0)
            except Exception as e:  # never let the worker die silently
                self._report(f"update failed: {type(e).__name__}: {e}", "update failed", 0.0)
            finally:
                with self.cv:
                    self.busy = False
                    if not self.pending:
                        self.app.overlay_stale = False
                    self.cv.notify_all()

    def _run_job(self, job, on_error):
        try:
            job()
        except Exception as e:  # reported by the caller's handler; the worker lives on
            on_error(e)

    def _report(self, status, stage, fraction):
        self.app.status = status
        self.app.progress_panel.show(stage, fraction)

    def _update(self, gen, t_req):
        """One update: labeled features, training (a preview first when slow), then the view piece by piece."""
        a, p = self.app, self.app.project
        tm = {"features": 0.0, "train": 0.0, "predict": 0.0, "render": 0.0}
        version = p.version
        retrain = (a.live_update or self.force) and (p.forest is None or version != self.trained_version)
        # "total": from the stroke, or from when the retraining was asked for if later (labels painted
        # or loaded while Live Update was off: not from the idle time before it was switched on); from
        # the zoom / pan without retraining
        t0 = max(self.stroke_t, self.asked_t) if retrain else t_req
        self._t0, self._first = t0, None
        shown = []
        if retrain:
            self._report("features of the labeled pixels…", "features of the labels", 0.05)
            t = time.perf_counter()
            p.store()
            tm["features"] += time.perf_counter() - t
            if not self.current(gen):
                return

            def on_preview(forest):
                if not self.current(gen):
                    return False
                t_p = time.perf_counter()
                tm["train"] = t_p - t
                if self._fill_view(gen, tm, forest):
                    self._finish(tm, t0, forest, f"preview of {forest.n_trees} trees; growing the other "
                                                 f"{p.n_estimators - forest.n_trees}…")
                    shown.append({"trees": forest.n_trees, "seconds": time.perf_counter() - t_p})
                    self._report(a.status, "training the other trees", 0.5)
                return self.current(gen)

            preview = self.last_update_s > PREVIEW_AFTER_S and p.n_estimators > 2 * PREVIEW_TREES
            try:
                self._report("training…", "training", 0.15)
                t = time.perf_counter()
                p.train(preview=PREVIEW_TREES if preview else 0, on_preview=on_preview if preview else None)
                if not self.current(gen):
                    return
                self.trained_version = version
                self.force = False
                self.last_train_s = time.perf_counter() - t
                # the preview's overlay was drawn inside train(): its features, predicting and drawing are
                # counted as such, not as training (a 17-channel crop's status said "train 1730 ms" for 50)
                spent = shown[0]["seconds"] if shown else 0.0
                tm = dict(tm, train=self.last_train_s - spent)
            except ValueError:
                if a.live_update and p.forest is None:  # no forest yet: have the view's features ready
                    self._fill_view(gen, tm)
                raise
        if p.forest is None or not self.current(gen) or not self._fill_view(gen, tm):
            return
        # "total" is what a person waits for: the whole forest's overlay of the whole view;
        # "first" what appeared before it (a preview's overlay or the first pieces)
        self._finish(tm, t0, p.forest, "done, whole forest" + (
            f" (a {shown[0]['trees']}-tree preview was shown first)" if shown else ""))
        if retrain:
            self.last_update_s = tm["total"] - (shown[0]["seconds"] if shown else 0.0)
        a.progress_panel.show("done", 1.0)
        a.overlay_frames += 1
        a.n_updates += 1
        a.timings = dict(a.timings, first=self._first if self._first is not None else a.timings["total"])
        a.timings_full = a.timings  # the same figures: kept for scripts that read it

    def _finish(self, tm, t0, forest, what):
        """Draw the view's overlay and report the timings."""
        a = self.app
        t = time.perf_counter()
        a.canvas_view.draw()
        a.ortho.draw()
        tm["render"] += time.perf_counter() - t
        tm["total"] = time.perf_counter() - t0
        if self._first is None:
            self._first = tm["total"]
        a.timings = dict(tm)
        n_lab = a.project.store().n_labeled()
        a.status = (f"update #{a.n_updates + 1} {what}: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in tm.items())
                    + f" | {forest.n_trees} trees on {n_lab} labeled px")

    def _drawn(self):
        """Note when the update's first overlay reached the canvas."""
        if self._first is None:
            self._first = time.perf_counter() - self._t0

    def _fill_view(self, gen, tm, forest=None):
        """Predict the xy view, then the orthogonal panes shown, piece by piece (False when stale)."""
        preds = [self.app.prediction] + self.app.ortho.predictions()
        total = None
        for pred in preds:
            vf = pred.features()
            if vf is None or vf.key != pred.key():
                return False
            total = (total or 0) + len(vf)
        done = [0]
        return all(self._fill(pred, gen, tm, forest, done, total) for pred in preds)

    def _fill(self, pred, gen, tm, forest, done, total):
        """Predict one view's pieces from its centre out, drawing as they finish (False when stale)."""
        a = self.app
        vf = pred.features()
        if vf is None or vf.key != pred.key():
            return False
        if forest is None and a.project.forest is None:  # features only, ready for the first forest
            for k in range(len(vf)):
                if not self.current(gen) or pred.vf is not vf:
                    return False
                if vf.full() or vf.transient(k):  # what is not kept would be computed again for the forest
                    break
                self._report(f"features of the view: {done[0] + k}/{total} tiles", "features of the view",
                             (done[0] + k) / total)
                vf.features(k)
            done[0] += len(vf)
            return True
        preview, forest = forest is not None, forest or a.project.forest
        if forest is None or forest.n_classes != len(a.project.classes):  # the classes changed meanwhile
            return False
        state = pred.start(vf, forest)
        used = forest.used_features()  # what pieces the view cannot keep are computed for
        last_draw = time.perf_counter()
        for k in range(len(vf)):
            # a preview (``forest`` given) skips pieces the view cannot keep: computed for it, their features
            # would be computed again for the whole forest moments later; they appear with the complete overlay
            if state.done[k] or (preview and vf.transient(k)):
                continue
            if not self.current(gen) or pred.vf is not vf:
                return False
            t = time.perf_counter()
            feats = vf.features(k, used)
            t1 = time.perf_counter()
            pred.predict_piece(k, feats)
            t2 = time.perf_counter()
            tm["features"] += t1 - t
            tm["predict"] += t2 - t1
            n = done[0] + int(state.done.sum())
            a.view_progress = (n, total)
            if n < total:
                self._report(f"predicting the view: {n}/{total} tiles", "predicting the view", 0.3 + 0.7 * n / total)
                if t2 - last_draw > DRAW_EVERY_S:
                    pred.draw()
                    self._drawn()
                    last_draw = time.perf_counter()
        done[0] += len(vf)
        a.view_progress = (done[0], total)
        if done[0] < total:
            pred.draw()  # this view is complete: show it while the next fills
            self._drawn()
        return True
