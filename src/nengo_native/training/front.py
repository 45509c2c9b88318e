"""`TrainingFront`: the Simulator's training methods, with NengoDL's names and
meanings. They use only the simulator's public ``trainer``, ``progress_bar`` and
``closed``; the work is the `Trainer`'s."""

from __future__ import annotations

from nengo.exceptions import SimulatorClosed

from ..unsupported import refuse
from . import parameters
from .gradcheck import check_gradients
from .trainer import History, Trainer


class TrainingFront:
    """Mixed into `nengo_native.Simulator`: `compile`, `fit`, `evaluate`,
    `save_params`, `load_params`, `get_nengo_params`, `freeze_params`,
    `check_gradients` and `trainable_parameters`."""

    trainer: Trainer
    progress_bar: object
    closed: bool

    @property
    def trainable_parameters(self) -> list:
        """(list of TrainableParameter) What `fit` optimizes, from the network's
        ``trainable`` config (see `nengo_native.configure_settings`)."""
        return list(self.trainer.params)

    def compile(self, optimizer=None, loss=None, metrics=None, loss_weights=None):
        """Choose the optimizer, losses and metrics for `fit` and `evaluate`.

        Parameters
        ----------
        optimizer : Optimizer or str, optional
            A `nengo_native.optimizers` instance (e.g. ``Adam(0.01)``) or
            ``"sgd"``, ``"adam"``, ``"rmsprop"``. Needed by `fit` only.
        loss : dict or loss, optional
            ``{probe: loss}``, or one loss for every probe that gets targets. A loss
            is a `nengo_native.losses.Loss`, a name (``"mse"``, ``"mae"``,
            ``"categorical_crossentropy"``, ...) or a callable ``(y_true, y_pred)``
            (training needs its gradient; see `nengo_native.losses`).
        metrics : dict or loss or list, optional
            Extra values to report, per probe or for every probe.
        loss_weights : dict, optional
            ``{probe: weight}`` on each probe's loss in the total (default 1).
        """
        self.trainer.compile(optimizer, loss, metrics, loss_weights)

    def fit(
        self,
        x=None,
        y=None,
        epochs: int = 1,
        batch_size: int | None = None,
        n_steps: int | None = None,
        shuffle: bool = True,
        validation_data=None,
        verbose: int | None = None,
        callbacks=None,
        validation_split: float = 0.0,
        terminate_on_nan: bool = True,
        **kwargs,
    ) -> History:
        """Train the trainable parameters by gradient descent through time.

        Spiking neurons run as their rate counterparts (LIF as LIFRate, ...);
        every minibatch starts from the simulator's current state, which `fit`
        leaves unchanged (as NengoDL's ``stateful=False``).

        Parameters
        ----------
        x : dict or array, optional
            ``{node: array (n_samples, n_steps, node.size_out)}`` for input nodes,
            or one array when the model has one input node.
        y : dict or array
            ``{probe: targets (n_samples, probe samples, ...)}``, or one array when
            one probe has a loss.
        epochs : int
            Passes over the data.
        batch_size : int, optional
            Must equal ``minibatch_size`` when given.
        n_steps : int, optional
            Steps per sample; taken from ``x`` when given.
        shuffle : bool
            Shuffle the samples every epoch (reproducibly, from the seed).
        validation_data : tuple (x, y), optional
            Evaluated (spiking, as `evaluate`) after every epoch; ``val_*`` keys.
        verbose : int, optional
            0 silent; 1 a progress bar per epoch that ends with the epoch's losses
            (a plain line without a bar); 2 the line only. Default: 1 if the
            simulator's progress bar is on, else 0.
        callbacks : list of nengo_native.callbacks.Callback, optional
            Told when epochs begin and end and when minibatches end
            (`~nengo_native.callbacks.EarlyStopping`, ``ModelCheckpoint``,
            ``LearningRateScheduler``, ...).
        validation_split : float
            As in Keras: this fraction of the samples, taken from the end of x and
            y before shuffling, is not trained on but evaluated after every epoch
            (``val_*`` keys). Ignored when ``validation_data`` is given.
        terminate_on_nan : bool
            Stop when the loss is not finite, with a warning naming the epoch and
            the loss, and restore the parameters of the last finite epoch (a
            `~nengo_native.callbacks.TerminateOnNaN` added to ``callbacks``).
        **kwargs
            Keras/NengoDL arguments that nengo_native does not support raise a
            TypeError that says what to use instead (see docs/migration.md).

        Returns
        -------
        History
            ``history.history["loss"]`` and the other values, one per epoch.

        Warns
        -----
        UserWarning
            When the number of samples is not a multiple of ``minibatch_size``:
            the extra samples are left out (truncated), as in NengoDL.
        """
        refuse("fit", kwargs)
        return self.trainer.fit(
            x,
            y,
            epochs,
            batch_size,
            n_steps,
            shuffle,
            validation_data,
            verbose,
            self.progress_bar,
            callbacks=callbacks,
            validation_split=validation_split,
            terminate_on_nan=terminate_on_nan,
            sim=self,
        )

    def evaluate(self, x=None, y=None, n_steps: int | None = None, **kwargs) -> dict:
        """Losses and metrics of the model as defined (spiking neurons) on data.

        Parameters
        ----------
        x, y, n_steps
            As for `fit`.

        Returns
        -------
        dict
            ``{"loss": total, "<probe>_loss": ..., "<probe>_<metric>": ...}``.
        """
        refuse("evaluate", kwargs)
        return self.trainer.evaluate(x, y, n_steps, self.progress_bar)

    def save_params(self, path, **kwargs) -> str:
        """Save the trainable parameters' current values to ``path`` (``.npz`` is
        added when missing); returns the file name."""
        refuse("save_params", kwargs)
        return parameters.save_params(self.trainer, path)

    def load_params(self, path, **kwargs) -> None:
        """Load parameters saved by `save_params` from a simulator of the same
        model (checked: a file from another model raises ValidationError)."""
        refuse("load_params", kwargs)
        parameters.load_params(self.trainer, path)

    def get_nengo_params(self, objs, as_dict: bool = False):
        """Arguments that make nengo objects reproduce their trained values.

        Parameters
        ----------
        objs : Ensemble or Connection or list of them
        as_dict : bool
            Return ``{str(obj): params}`` instead of a list (or a single dict for a
            single object).
        """
        if self.closed:
            raise SimulatorClosed("Simulator is closed.")
        return parameters.get_nengo_params(self.trainer.engine, objs, as_dict)

    def freeze_params(self, objs) -> None:
        """Write the current (trained) parameters into the nengo objects, so that
        any simulator built from them, `nengo.Simulator` included, runs the
        trained model.

        Parameters
        ----------
        objs : Network or Ensemble or Connection or list of them
            A network stands for all its ensembles and connections (except
            connections with online learning rules).
        """
        if self.closed:
            raise SimulatorClosed("Simulator is closed.")
        parameters.freeze(self.trainer.engine, objs)

    def check_gradients(
        self,
        x=None,
        n_steps: int | None = None,
        eps: float = 1e-6,
        max_checks: int = 10,
        rtol: float = 1e-5,
        seed: int = 0,
    ) -> dict:
        """Compare the backward pass with central finite differences.

        The loss is a fixed random projection of every probe's training-mode
        output; for up to ``max_checks`` elements of each trainable parameter the
        analytic derivative is compared with ``(L(p + eps) - L(p - eps)) / 2 eps``.

        Returns
        -------
        dict
            ``{TrainableParameter: largest relative error}`` (each key has the
            ``obj``, ``name`` and ``signal`` of one parameter).

        Raises
        ------
        nengo.exceptions.SimulationError
            If an error is above ``rtol``.
        """
        return check_gradients(self.trainer, x, n_steps, eps, max_checks, rtol, seed)
